"""Seeded fuzzing: mutated STAR, MRC/MRCS, cryoSPARC .cs and model-card inputs (tests/fuzz_cases.py)
fed to the readers and to the command line in-process. Each case must succeed with a valid result
or fail with InputError / exit status 2 and one line; nothing else. The long campaign, one
subprocess per command, is benchmarks/fuzz.py."""

from __future__ import annotations

import io
import shutil
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_viewer.cli import main
from gan_viewer.errors import InputError
from gan_viewer.io.cryosparc import read_cryosparc
from gan_viewer.io.micrograph import load_coordinates
from gan_viewer.io.mrc import MrcStack
from gan_viewer.io.star import read_star
from gan_viewer.ml.checkpoint import load_generator, save_generator
from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator
from gan_viewer.io.maps import load_map
from tests.fuzz_cases import Case, check_result, make_cases, make_seeds

SEED = 20261128
CASES = 70  # 10 of each kind


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory) -> tuple[Path, list[Case]]:
    root = tmp_path_factory.mktemp("fuzz")
    torch.manual_seed(0)
    model = save_generator(root / "model.safetensors", UNetGenerator(GeneratorConfig(depth=3, base_channels=4)),
                           {"name": "tiny", "pixel_size": 2.0, "box": 16})
    seeds = make_seeds(root / "seeds", model)
    return root, make_cases(seeds, root / "seeds", CASES, np.random.default_rng(SEED))


def materialise(case: Case, root: Path) -> Path:
    folder = root / case.ident
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "out").mkdir(parents=True)
    for name, data in case.files.items():
        (folder / name).write_bytes(data)
    return folder


def read(case: Case, folder: Path) -> None:
    """The library reader for the case's kind, reading everything (pixels too)."""
    path = folder / next(iter(case.files))
    if case.kind == "star":
        read_star(path)
    elif case.kind in ("stack", "micrograph"):
        with MrcStack(path) as stack:
            stack.read(slice(None))
    elif case.kind == "map":
        load_map(path)
    elif case.kind == "coords":
        load_coordinates(path, "mic.mrc")  # a Topaz table: the picks of mic.mrc
    elif case.kind == "cs":
        read_cryosparc(path)
    elif case.kind == "card":
        load_generator(folder / "model.safetensors")


def test_readers_fail_only_with_one_line_input_errors(fuzz) -> None:
    root, cases = fuzz
    problems = []
    for case in cases:
        folder = materialise(case, root / "readers")
        try:
            read(case, folder)
        except InputError as exc:
            if "\n" in str(exc) or str(folder) not in str(exc):
                problems.append(f"{case.ident} [{case.mutation}]: message {str(exc)!r}")
            continue
        except Exception as exc:  # noqa: BLE001 - what the test is about
            problems.append(f"{case.ident} [{case.mutation}]: {type(exc).__name__}: {exc}")
            continue
        if case.garbage and not case.only:
            problems.append(f"{case.ident} [{case.mutation}]: read without an error")
    assert not problems, "\n".join(problems)


def test_cli_succeeds_validly_or_fails_in_one_line(fuzz, monkeypatch) -> None:
    root, cases = fuzz
    monkeypatch.setenv("XDG_STATE_HOME", str(root / "state"))  # crash logs, if any, stay here
    problems = []
    for case in cases:
        for argv_template in case.commands:
            folder = materialise(case, root / "cli")
            argv = [a.replace("{dir}", str(folder)).replace("{out}", str(folder / "out")) for a in argv_template]
            problem = run_command(case, argv, folder)
            if problem:
                problems.append(f"{case.ident} [{case.mutation}] {argv[0]}: {problem}")
    assert not problems, "\n".join(problems)


def run_command(case: Case, argv: list[str], folder: Path) -> str | None:
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, redirect_stdout(out), redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except BaseException as exc:  # noqa: BLE001 - nothing may escape main
            return f"{type(exc).__name__} escaped main: {exc}"
    lines = err.getvalue().strip().splitlines()
    noise = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    if code == 0:
        if case.garbage:
            return "exit 0 on garbage"
        return check_result(case, argv, folder / "out", out.getvalue())
    if code != 2:
        return f"exit {code}: {err.getvalue().strip()[-300:]}"
    if len(lines) != 1 or not lines[0].startswith(f"gan-viewer {argv[0]}: error: "):
        return f"exit 2 but stderr is {err.getvalue()!r}"
    if noise:
        return f"exit 2 with warnings {noise}"
    if any((folder / "out").iterdir()):
        return f"exit 2 but left {[p.name for p in (folder / 'out').iterdir()]}"
    return None


def test_every_kind_and_garbage_are_covered(fuzz) -> None:
    _, cases = fuzz
    kinds = {case.kind for case in cases}
    assert kinds == {"star", "stack", "map", "micrograph", "coords", "cs", "card"}
    assert sum(case.garbage for case in cases) >= len(cases) // 3
    assert len({case.mutation for case in cases}) >= len(cases) * 2 // 3
