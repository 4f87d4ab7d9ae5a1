"""Fuzzing campaign: hundreds of hostile and malformed inputs, every command in a process of its own.

    python benchmarks/fuzz.py [--cases 1000] [--seed 1] [--jobs 2] [--mem-cap-mb 4096]

Seeds are tiny synthetic files plus small real ones copied from ``../shared/data`` (STAR files with
their stacks, stacks, a map, cryoSPARC files); the mutations are those of ``tests/fuzz_cases.py``
(byte flips, truncations, header fields, field types, reserved words, quotes, NaN, negative and
huge sizes). Every command (``gan-viewer info``, ``export``, ``denoise``, ``project``) runs in a
child process forked from this one after it imported what the commands import (torch alone
takes seconds to import on a busy 2-core machine): the child caps its address space (RLIMIT_AS),
sends stdout and stderr to files and calls ``gan_viewer.cli.main``, so crashes and signals end
the child only, and its peak RSS is read with ``wait4``. That peak includes the pages shared
with the parent (about 320 MB: torch, pandas, ...), so it over-states what ``gan-viewer info``
alone would take. A run is judged:

* ``traceback``: a Python traceback or an internal error (exit status 1);
* ``crash``: ended by a signal (SIGSEGV, SIGBUS, ...); ``timeout``: still running after --timeout;
* ``exit0_on_garbage``: exit 0 although the mutation surely made the input invalid;
* ``invalid_result``: exit 0 with an output that is not valid (unreadable, rows changed, NaN);
* ``messy_error``: exit 2 without exactly one error line, with warnings, or leaving output files;
* ``other_status``: any other exit status; ``over_500MB``: peak RSS above 500 MB.

Targets: 0 of each. Counts by file kind go to benchmarks/results/fuzz.json with every failing run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: the children run side by side on few cores

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/fuzz_cases.py holds the seeds and mutations

from tests.fuzz_cases import Case, check_result, iter_cases, make_seeds  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
OUTCOMES = ("ok_result", "ok_input_error", "traceback", "crash", "timeout", "exit0_on_garbage", "invalid_result",
            "messy_error", "other_status")
FAILURES = OUTCOMES[2:]
_LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING): ")
#: what the commands import, loaded once before forking (no torch computation runs in this process)
PRELOAD = ("torch", "pandas", "pyarrow", "scipy.spatial.transform", "mrcfile", "starfile", "safetensors.torch",
           "gan_viewer.cli", "gan_viewer.cli.info", "gan_viewer.cli.export", "gan_viewer.cli.denoise",
           "gan_viewer.cli.project", "gan_viewer.core.summary", "gan_viewer.core.export", "gan_viewer.ml.inference",
           "gan_viewer.sim.project", "gan_viewer.sim.reference", "gan_viewer.io.cryosparc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="commands run at once")
    parser.add_argument("--mem-cap-mb", type=int, default=4096, help="RLIMIT_AS of each command (address space)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds a command may take")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gan-viewer-fuzz-"))
    os.environ["XDG_STATE_HOME"] = str(work / "state")  # crash logs of the children stay in here
    try:
        cases = setup(work, args)
        import importlib

        for module in PRELOAD:
            importlib.import_module(module)
        baseline = _rss_mb()
        start = time.perf_counter()
        summary: list[Case] = []
        runs = campaign(cases, summary, work, args)
        report(summary, runs, time.perf_counter() - start, baseline, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def setup(work: Path, args: argparse.Namespace) -> Iterator[Case]:
    """Seeds and cases; the tiny generator is made in a subprocess, so no torch thread pool
    starts in this process before it forks."""
    code = ("import sys, torch\n"
            "from gan_viewer.ml.checkpoint import save_generator\n"
            "from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator\n"
            "torch.manual_seed(0)\n"
            "save_generator(sys.argv[1], UNetGenerator(GeneratorConfig(depth=3, base_channels=4)),\n"
            "               {'name': 'tiny', 'pixel_size': 2.0, 'box': 16})\n")
    model = work / "model.safetensors"
    subprocess.run([sys.executable, "-c", code, str(model)], check=True)
    seeds = make_seeds(work / "seeds", model, SHARED if SHARED.is_dir() else None)
    print("seeds:", {kind: len(files) for kind, files in seeds.items()}, flush=True)
    return iter_cases(seeds, work / "seeds", args.cases, np.random.default_rng(args.seed))


def campaign(cases: Iterator[Case], summary: list[Case], work: Path, args: argparse.Namespace) -> list[dict]:
    """Run every command of every case, ``args.jobs`` children at a time. Cases are made one at a
    time and their file contents dropped once written, so the children inherit a small parent;
    ``summary`` gets each case (without its files)."""
    pending: deque[tuple[Case, int]] = deque()
    running: dict[int, tuple[dict, float]] = {}
    runs = []
    while True:
        if not pending:
            case = next(cases, None)
            if case is not None:
                pending.extend((case, k) for k in range(len(case.commands)))
                summary.append(case)
        if not pending and not running:
            break
        while pending and len(running) < args.jobs:
            case, k = pending.popleft()
            task = prepare(case, k, work)
            if not pending or pending[0][0] is not case:
                case.files = {}
            running[fork_command(task, args.mem_cap_mb << 20)] = (task, time.perf_counter())
        pid, status, usage = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            now = time.perf_counter()
            for child, (task, started) in running.items():
                if now - started > args.timeout and not task.get("timed_out"):
                    task["timed_out"] = True
                    os.kill(child, signal.SIGKILL)
            time.sleep(0.005)
            continue
        task, started = running.pop(pid)
        runs.append(finish(task, os.waitstatus_to_exitcode(status), usage, time.perf_counter() - started))
        if len(runs) % 100 == 0:
            print(f"{len(runs)} runs, {len(summary)} cases", flush=True)
    return runs


def prepare(case: Case, k: int, work: Path) -> dict:
    folder = work / "cases" / f"{case.ident}-{k}"
    (folder / "out").mkdir(parents=True)
    for name, data in case.files.items():
        (folder / name).write_bytes(data)
    argv = [a.replace("{dir}", str(folder)).replace("{out}", str(folder / "out")) for a in case.commands[k]]
    return {"case": case, "argv": argv, "folder": folder}


def fork_command(task: dict, cap: int) -> int:
    """Fork a child that runs one command and exits with its status."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        folder, argv, case = task["folder"], task["argv"], task["case"]
        os.chdir(folder)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            target = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        from gan_viewer.cli import main as cli_main

        try:
            code = cli_main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 1
        problem = None
        if code == 0 and not case.garbage:
            sys.stdout.flush()
            problem = check_result(case, argv, folder / "out", (folder / "stdout").read_text(errors="replace"))
        (folder / "result.json").write_text(json.dumps({"problem": problem}))
    except BaseException:  # noqa: BLE001 - anything escaping main is reported as a traceback
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if 0 <= code < 256 else 1)


def finish(task: dict, status: int, usage, seconds: float) -> dict:
    case, folder, argv = task["case"], task["folder"], task["argv"]
    result = folder / "result.json"
    run = {"case": case.ident, "kind": case.kind, "mutation": case.mutation, "garbage": case.garbage,
           "command": argv[0], "argv": argv, "status": status, "timed_out": bool(task.get("timed_out")),
           "seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
           "stderr": (folder / "stderr").read_text(errors="replace"),
           "problem": json.loads(result.read_text())["problem"] if result.is_file() else None}
    run["outcome"] = judge(case, argv, folder, run)
    shutil.rmtree(folder, ignore_errors=True)
    return run


def judge(case: Case, argv: list[str], folder: Path, run: dict) -> str:
    status, stderr = run["status"], run["stderr"]
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not _LOG_LINE.match(ln)]
    if run["timed_out"]:
        return "timeout"
    if status < 0:
        return "crash"
    if "Traceback (most recent call last)" in stderr or status == 1:
        return "traceback"
    if status == 0:
        if case.garbage:
            return "exit0_on_garbage"
        return "invalid_result" if run["problem"] else "ok_result"
    if status != 2:
        return "other_status"
    if len(lines) != 1 or not lines[0].startswith(f"gan-viewer {argv[0]}: error: ") or any((folder / "out").iterdir()):
        return "messy_error"
    return "ok_input_error"


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def report(cases: list[Case], runs: list[dict], seconds: float, baseline: float, args: argparse.Namespace) -> None:
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for case in cases:
        by_kind[case.kind]["cases"] += 1
        by_kind[case.kind]["garbage_cases"] += case.garbage
    for run in runs:
        counts = by_kind[run["kind"]]
        counts["runs"] += 1
        counts[run["outcome"]] += 1
        counts["over_500MB"] += run["peak_rss_mb"] > 500
    total = sum(by_kind.values(), Counter())
    failing = [{k: run[k] for k in ("case", "kind", "mutation", "garbage", "argv", "status", "outcome",
                                     "peak_rss_mb", "problem") if k in run} | {"stderr": run["stderr"][-800:]}
               for run in runs if run["outcome"] in FAILURES or run["peak_rss_mb"] > 500]
    result = {
        "command": "python benchmarks/fuzz.py " + " ".join(sys.argv[1:]),
        "cases": len(cases), "runs": len(runs), "seed": args.seed, "jobs": args.jobs,
        "mem_cap_mb": args.mem_cap_mb, "minutes": round(seconds / 60, 1),
        "parent_rss_mb_at_fork": round(baseline, 1),
        "machine": f"{os.cpu_count()} CPUs, {os.uname().sysname}",
        "targets": {"traceback": 0, "exit0_on_garbage": 0, "over_500MB": 0},
        "totals": {k: total[k] for k in ("cases", "garbage_cases", "runs", *OUTCOMES, "over_500MB")},
        "by_kind": {kind: {k: c[k] for k in ("cases", "garbage_cases", "runs", *OUTCOMES, "over_500MB")}
                    for kind, c in sorted(by_kind.items())},
        "peak_rss_mb": {"max": max(r["peak_rss_mb"] for r in runs),
                        "median": float(np.median([r["peak_rss_mb"] for r in runs]))},
        "largest_peaks": [{k: r[k] for k in ("case", "command", "mutation", "peak_rss_mb")}
                          for r in sorted(runs, key=lambda r: -r["peak_rss_mb"])[:5]],
        "seconds_per_run": {"median": float(np.median([r["seconds"] for r in runs])),
                            "max": max(r["seconds"] for r in runs)},
        "distinct_mutations": len({case.mutation for case in cases}),
        "failing_runs": failing,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "failing_runs"}, indent=2))
    for run in failing[:20]:
        print(f"FAIL {run['outcome']}: {run['case']} [{run['mutation']}] {' '.join(run['argv'][:1])}: "
              f"{run['stderr'].strip().splitlines()[-1:] if run['stderr'].strip() else ''}")


if __name__ == "__main__":
    main()
