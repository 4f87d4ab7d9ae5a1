"""Score a large particle set on a SLURM cluster: one job-array task per shard, then one merge.

Each task runs ``gan-viewer score STAR --map MAP --shard K/N --out WORK/shard.K.star`` through
submitit (the array is submitted in one call, so the scheduler sees one job); when all are done,
``gan-viewer merge`` joins them into OUT. The same function runs on the local machine with
``--local`` (submitit's LocalExecutor: the CI's test of this path).

example (on the cluster's login node):
  python packaging/slurm_score.py particles.star --map ref.mrc --out scored.star --shards 64 \\
      --partition cpu --cpus 4 --minutes 60 --work scoring_jobs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def score_shard(star: str, map_path: str, k: int, n: int, out: str, extra: list[str]) -> str:
    """One task: score shard k of n (runs on the node). Returns the shard's path."""
    from gan_viewer.cli import main

    status = main(["score", star, "--map", map_path, "--shard", f"{k}/{n}", "--out", out, "--force", *extra])
    if status:
        raise RuntimeError(f"gan-viewer score --shard {k}/{n} exited with status {status}")
    return out


def run(star: Path, map_path: Path, out: Path, shards: int, work: Path, executor, extra: list[str] = (),
        force: bool = False) -> Path:
    """Submit the shards as one array through ``executor`` (a submitit executor), wait, merge into ``out``."""
    from gan_viewer.cli import main

    work.mkdir(parents=True, exist_ok=True)
    outs = [str(work / f"shard.{k}.star") for k in range(1, shards + 1)]
    jobs = executor.map_array(score_shard, [str(star)] * shards, [str(map_path)] * shards, list(range(1, shards + 1)),
                              [shards] * shards, outs, [list(extra)] * shards)
    done = [job.result() for job in jobs]  # raises the first task's error
    status = main(["merge", *done, "--out", str(out), *(["--force"] if force else [])])
    if status:
        raise SystemExit(status)
    return out


def main(argv: list[str] | None = None) -> int:
    import submitit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("star", type=Path)
    parser.add_argument("--map", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--work", type=Path, default=Path("scoring_jobs"), help="shards and SLURM logs")
    parser.add_argument("--partition", help="SLURM partition")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs per task")
    parser.add_argument("--minutes", type=int, default=60, help="time limit per task")
    parser.add_argument("--parallel", type=int, default=32, help="tasks running at once (array throttle)")
    parser.add_argument("--local", action="store_true", help="run the tasks on this machine (no SLURM)")
    parser.add_argument("--force", action="store_true", help="overwrite OUT")
    args, extra = parser.parse_known_args(argv)
    if args.local:
        executor = submitit.LocalExecutor(folder=args.work / "logs")
        executor.update_parameters(timeout_min=args.minutes)
    else:
        executor = submitit.AutoExecutor(folder=args.work / "logs", cluster="slurm")
        executor.update_parameters(timeout_min=args.minutes, cpus_per_task=args.cpus, slurm_array_parallelism=args.parallel,
                                   **({"slurm_partition": args.partition} if args.partition else {}))
    run(args.star, args.map, args.out, args.shards, args.work, executor, extra, args.force)
    print(f"{args.shards} shards scored and merged -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
