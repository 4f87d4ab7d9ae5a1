#!/usr/bin/env python3
"""gan-viewer as a RELION 3.1 External job: curate particles, and hand the kept ones back to RELION.

RELION runs it from the project folder (``RelionJob::getCommandsExternalJob``) as::

    gan_viewer_external.py --o External/job005/ --in_parts Select/job004/particles.star
        [--in_3dref Refine3D/job010/run_class001.mrc] [--LABEL VALUE ...] --j 1

with its stdout and stderr appended to ``External/job005/run.out`` and ``run.err``. Set the
job's "External executable" to this file, "Input particles" to a particle STAR file and,
optionally, "Input 3D reference" to the map of the inspector's reference panel. Parameters
(the Params tab: a label without dashes and its value):

    gui        yes: open the inspector on the particles; the job ends when it is closed, and its
               decisions are the job's labels (kept in JOBDIR/gan-viewer.sqlite: run the job
               again with Continue to resume them)
    labels     a RELION Select-job file (backup_selection.star) or a gan-viewer session file;
               with gui yes, the inspector starts from it
    undecided  keep or reject (default): where the particles without a label go
    score      yes (default) or no: with an Input 3D reference, first score every particle against
               it (``gan-viewer score``: gvScore, the default ranking, and the other gv columns)
               into JOBDIR/scored.star; the inspector opens that file (sorted by gvScore) and the
               job's outputs keep its gv columns
    denoise    yes: also write JOBDIR/denoised.mrcs, the recovered image of every particle
    model      the generator (default: the bundled one); device: auto (default), cpu, cuda

Steps, each a ``gan-viewer`` command whose output goes to run.out: score (with a reference,
unless score is no), denoise (optional), the inspector (optional), export. Outputs, in JOBDIR:

    scored.star             with score: every input particle with the gv score columns (node type 3)
    particles.star          the kept particles, every column as read (node type 3)
    rejected.star           every other particle (node type 3)
    backup_selection.star   rlnSelected 1 (kept) or 0 per input particle, as RELION's Select job writes
    denoised.mrcs           with denoise yes
    RELION_OUTPUT_NODES.star, then RELION_JOB_EXIT_SUCCESS; on any failure RELION_JOB_EXIT_FAILURE

Bad input (a missing --o or --in_parts, an unknown parameter, an unreadable file) is one line on
stderr naming the file, exit status 2, and no output. The one file still written then is
RELION_JOB_EXIT_FAILURE in an existing JOBDIR: RELION's pipeline and scheduler wait for an exit
file, and would show the job running forever without it.

The ``gan-viewer`` command is taken from $GAN_VIEWER (e.g. ``/opt/gan-viewer/gan-viewer`` for
the frozen app, or ``python3 -m gan_viewer``), else from PATH. Only the standard library is used
here, so any python3 runs this script.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

PROG = Path(sys.argv[0]).name or "gan_viewer_external.py"
SUCCESS, FAILURE = "RELION_JOB_EXIT_SUCCESS", "RELION_JOB_EXIT_FAILURE"
NODES = "RELION_OUTPUT_NODES.star"
SESSION = "gan-viewer.sqlite"
#: RELION 3.1 node types (pipeline_jobs.h)
NODE_PART_DATA = 3
#: output file -> node type; files without a type are written but not announced to the pipeline
OUTPUTS = {"particles.star": NODE_PART_DATA, "rejected.star": NODE_PART_DATA, "backup_selection.star": None}
#: the score step's output (announced only when written)
SCORED = "scored.star"


class UsageError(Exception):
    """Bad input: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's usage block would be several lines
        raise UsageError(message)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = Parser(prog=PROG, add_help=True, description=__doc__.splitlines()[0])
    parser.add_argument("--o", help="the job folder RELION made, e.g. External/job005/")
    parser.add_argument("--in_parts", help="input particle STAR file")
    parser.add_argument("--in_3dref", help="reference map for the inspector's third panel")
    parser.add_argument("--j", type=int, default=1, help="threads (RELION's 'Number of threads')")
    parser.add_argument("--pipeline_control", help=argparse.SUPPRESS)  # RELION adds it to some commands
    parser.add_argument("--gui", choices=["yes", "no"], default="no")
    parser.add_argument("--labels", help="backup_selection.star or a gan-viewer session file")
    parser.add_argument("--undecided", choices=["keep", "reject"], default="reject")
    parser.add_argument("--score", choices=["yes", "no"], default="yes")
    parser.add_argument("--denoise", choices=["yes", "no"], default="no")
    parser.add_argument("--model")
    parser.add_argument("--device", default="auto")
    return parser.parse_args(argv)


def check(args: argparse.Namespace) -> Path:
    """The job folder, once every required option and input is there; UsageError otherwise."""
    if not args.o:
        raise UsageError("--o JOBDIR/ is required (RELION passes the job's folder)")
    job = Path(args.o)
    if not job.is_dir():
        raise UsageError(f"{args.o}: no such job folder (RELION makes it before running the job)")
    if not args.in_parts:
        raise UsageError(f"{args.o}: --in_parts particles.star is required (the job's 'Input particles')")
    for option, value in (("--in_parts", args.in_parts), ("--in_3dref", args.in_3dref), ("--labels", args.labels)):
        if value and not Path(value).is_file():
            raise UsageError(f"{value}: no such file ({option})")
    if args.gui == "no" and not args.labels:
        raise UsageError(f"{args.o}: no labels: set the parameter gui to yes, or labels to a "
                         "backup_selection.star or a gan-viewer session file")
    if args.j < 1:
        raise UsageError(f"{args.o}: --j must be at least 1, got {args.j}")
    return job


def gan_viewer_command() -> list[str]:
    command = shlex.split(os.environ.get("GAN_VIEWER", "gan-viewer"))
    if not command or shutil.which(command[0]) is None:
        raise UsageError(f"{command[0] if command else '$GAN_VIEWER'}: gan-viewer not found (install it, or set "
                         "GAN_VIEWER to its command)")
    return command


def is_session_file(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


# -- the steps: each returns the gan-viewer arguments to run, or None to skip --------------------
def scoring(args: argparse.Namespace) -> bool:
    """Whether the job scores the particles (a reference is given and score is not no)."""
    return bool(args.in_3dref) and args.score == "yes"


def particles_of(args: argparse.Namespace, job: Path) -> str:
    """The particle file the steps after scoring read: the scored one when the job scores."""
    return str(job / SCORED) if scoring(args) else args.in_parts


def score_step(args: argparse.Namespace, job: Path) -> list[str] | None:
    if not scoring(args):
        return None
    device = [] if args.device == "auto" else ["--device", args.device]
    return ["score", args.in_parts, "--map", args.in_3dref, "--out", str(job / SCORED), *device, "--force"]


def denoise_step(args: argparse.Namespace, job: Path) -> list[str] | None:
    if args.denoise != "yes":
        return None
    model = ["--model", args.model] if args.model else []
    return ["denoise", args.in_parts, "--out", str(job / "denoised.mrcs"), "--device", args.device, *model, "--force"]


def session_of(args: argparse.Namespace, job: Path) -> tuple[str, str] | None:
    """Where the job's labels come from: ("--session", file) or ("--from-selection", file)."""
    if args.gui == "yes":
        if args.labels and is_session_file(args.labels):
            return "--session", args.labels
        return "--session", str(job / SESSION)
    if args.labels:
        return ("--session" if is_session_file(args.labels) else "--from-selection"), args.labels
    return None


def gui_step(args: argparse.Namespace, job: Path) -> list[str] | None:
    if args.gui != "yes":
        return None
    command = ["gui", particles_of(args, job), "--device", args.device, *session_of(args, job)]
    resumed = (job / SESSION).is_file()  # a continued job keeps its decisions over the selection
    if args.labels and not is_session_file(args.labels) and not resumed:
        command += ["--from-selection", args.labels]
    if args.in_3dref:
        command += ["--map", args.in_3dref]
    if args.model:
        command += ["--model", args.model]
    return command


def export_step(args: argparse.Namespace, job: Path) -> list[str]:
    return ["export", particles_of(args, job), *session_of(args, job), "--undecided", args.undecided,
            "--out", str(job / "particles.star"), "--rejected", str(job / "rejected.star"),
            "--selection", str(job / "backup_selection.star"), "--force"]


STEPS = (("score", score_step), ("denoise", denoise_step), ("inspector", gui_step), ("export", export_step))


def run_steps(args: argparse.Namespace, job: Path, command: list[str]) -> int:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.j))
    for name, step in STEPS:
        argv = step(args, job)
        if argv is None:
            continue
        print(f"{PROG}: {name}: {shlex.join(command + argv)}", flush=True)
        status = subprocess.run(command + argv, env=env).returncode
        if status != 0:
            print(f"{PROG}: error: {job}/: gan-viewer {argv[0]} failed (exit status {status}); see run.err",
                  file=sys.stderr)
            return status
    return 0


def write_nodes(job: Path, prefix: str, scored: bool = False) -> None:
    """RELION_OUTPUT_NODES.star (``PipeLine::getOutputNodesFromStarFile``), written atomically."""
    lines = ["", "# version 30001", "", "data_output_nodes", "", "loop_ ", "_rlnPipeLineNodeName #1 ",
             "_rlnPipeLineNodeType #2 "]
    lines += [f"{prefix}{name} {kind} " for name, kind in OUTPUTS.items() if kind is not None]
    if scored:
        lines.append(f"{prefix}{SCORED} {NODE_PART_DATA} ")
    tmp = job / f".{NODES}.tmp"
    tmp.write_text("\n".join(lines) + "\n\n")
    os.replace(tmp, job / NODES)


def finish(job: Path | None, ok: bool) -> None:
    if job is None:
        return
    (job / (SUCCESS if ok else FAILURE)).touch()


def given_job(argv: list[str]) -> Path | None:
    """The existing job folder named by --o, found before the rest is parsed (a bad parameter
    must still end in RELION_JOB_EXIT_FAILURE there)."""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--o" and i + 1 < len(argv) else arg[4:] if arg.startswith("--o=") else None
        if value:
            return Path(value) if Path(value).is_dir() else None
    return None


def main(argv: list[str]) -> int:
    job = given_job(argv)
    for stale in (SUCCESS, FAILURE) if job is not None else ():
        (job / stale).unlink(missing_ok=True)
    try:
        args = parse(argv)
        job = check(args)
        status = run_steps(args, job, gan_viewer_command())
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        finish(job, False)
        return 2
    if status != 0:
        finish(job, False)
        return 2 if status == 2 else 1
    prefix = args.o if args.o.endswith("/") else args.o + "/"
    write_nodes(job, prefix, scoring(args))
    finish(job, True)
    print(f"{PROG}: done: {', '.join(f'{prefix}{name}' for name in OUTPUTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
