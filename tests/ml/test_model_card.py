"""Model cards with fields of the wrong type or value, and weights that do not fit them, are refused
in one line naming the file and the field, before any large allocation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gan_viewer.cli import main
from gan_viewer.errors import InputError
from gan_viewer.ml.checkpoint import load_generator, save_generator
from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator


@pytest.fixture
def model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_generator(tmp_path / "m.safetensors", UNetGenerator(GeneratorConfig(depth=3, base_channels=4)),
                          {"name": "m", "pixel_size": 2.0, "box": 32, "training": {"data": {"sources": ["a.mrc"]}}})


def edit_card(model: Path, change) -> Path:
    card_path = model.with_suffix(".json")
    card = json.loads(card_path.read_text())
    change(card)
    card_path.write_text(json.dumps(card))
    return card_path


def set_in(*keys_and_value):
    *keys, value = keys_and_value

    def change(card: dict) -> None:
        target = card
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


@pytest.mark.parametrize("change, message", [
    (set_in("generator", "depth", 5.5), "generator: depth must be an integer from 2 to 9, got 5.5"),
    (set_in("generator", "depth", "3"), "generator: depth must be an integer from 2 to 9, got '3'"),
    (set_in("generator", "base_channels", -4), "base_channels must be an integer from 1 to 1024, got -4"),
    (set_in("generator", "base_channels", 10**6), "base_channels must be an integer from 1 to 1024"),
    (set_in("generator", "dropout", "half"), "dropout must be a number"),
    (set_in("generator", "norm", None), "norm must be 'batch' or 'instance', got None"),
    (set_in("generator", "dropout_blocks", True), "dropout_blocks must be an integer"),
    (set_in("generator", [1, 2]), "field generator is \\[1, 2\\], expected an object"),
    (set_in("generator", "colour", 1), "unknown GeneratorConfig field"),
    (set_in("pixel_size", "2.0"), "field pixel_size is '2.0', expected a positive number"),
    (set_in("pixel_size", -2.0), "field pixel_size is -2.0"),
    (set_in("pixel_size", float("nan")), "field pixel_size is nan"),
    (set_in("box", 32.5), "field box is 32.5, expected a positive integer"),
    (set_in("finer_scale", 1.5), "field finer_scale is 1.5, expected a number above 0 and at most 0.85"),
    (set_in("finer_scale", "2/3"), "field finer_scale is '2/3'"),
    (set_in("input_whitening", 0), "field input_whitening is 0, expected a number above 0 and at most 1"),
    (set_in("input_whitening", 2.0), "field input_whitening is 2.0"),
    (set_in("name", 7), "field name is 7, expected text"),
    (set_in("sha256", 12345), "field sha256 is 12345, expected 64 hex digits"),
    (set_in("training", "data", ["a.mrc"]), "field training.data is \\['a.mrc'\\], expected an object"),
    (set_in("training", "data", "sources", "a.mrc"), "field training.data.sources is 'a.mrc'"),
])
def test_bad_card_fields(model: Path, change, message: str) -> None:
    card_path = edit_card(model, change)
    with pytest.raises(InputError, match=message) as info:
        load_generator(model)
    assert str(info.value).startswith(str(card_path)) and "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [("[1, 2]", "a JSON list, not an object"), ("{", "not JSON"),
                                            ("[" * 100000, "not JSON"), ("\xff\xfe", "not JSON")])
def test_card_that_is_not_an_object(model: Path, text: str, message: str) -> None:
    model.with_suffix(".json").write_bytes(text.encode("latin1"))
    with pytest.raises(InputError, match=message):
        load_generator(model)


def test_card_claiming_a_huge_generator_is_refused_before_building_it(model: Path) -> None:
    # the weights are unchanged (sha256 matches) but the card says 1024-4096 channels: 1.4 GB to build
    edit_card(model, set_in("generator", "base_channels", 1024))
    edit_card(model, set_in("generator", "max_channels", 4096))
    # the peak of the child's own memory (VmHWM): ru_maxrss would carry over the peak of the forking
    # pytest process, which Linux keeps across exec (1 GB late in a full run)
    code = ("import sys\n"
            "from gan_viewer.errors import InputError\n"
            "from gan_viewer.ml.checkpoint import load_generator\n"
            "try:\n    load_generator(sys.argv[1])\nexcept InputError as exc:\n    print(exc)\n"
            "hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
            "print('peak MB', int(hwm.split()[1]) // 1024)\n")
    out = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, check=True).stdout
    assert "do not fit the generator described by the card" in out
    assert int(out.split("peak MB")[1]) < 1000  # torch itself takes about 300 MB


def test_weights_with_nan_are_refused(model: Path) -> None:
    tensors = {k: v.clone() for k, v in UNetGenerator(GeneratorConfig(depth=3, base_channels=4)).state_dict().items()}
    next(v for v in tensors.values() if v.is_floating_point()).fill_(float("nan"))
    model.unlink()
    save_file(tensors, str(model))
    edit_card(model, lambda card: card.pop("sha256"))
    with pytest.raises(InputError, match="NaN or infinite"):
        load_generator(model)


def test_cli_denoise_names_the_card(capsys, model: Path, tmp_path: Path) -> None:
    from gan_viewer.io.mrc import write_stack

    stack = write_stack(tmp_path / "p.mrcs", torch.randn(2, 32, 32).numpy())
    card_path = edit_card(model, set_in("pixel_size", "two"))
    code = main(["denoise", str(stack), "--out", str(tmp_path / "o.mrcs"), "--model", str(model)])
    err = capsys.readouterr().err
    assert code == 2 and str(card_path) in err and "pixel_size" in err
    assert [line for line in err.splitlines() if "error" in line] == err.strip().splitlines()[-1:]
    assert not (tmp_path / "o.mrcs").exists()
