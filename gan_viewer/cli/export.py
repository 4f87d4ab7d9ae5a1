"""Write the kept particles of a STAR or cryoSPARC .cs file, and optionally all the others, as new files.

Labels come from 1-based row lists (``--keep 1,3,5-9``, ``--reject ...``), from a curation
session (``--session FILE``, as saved by the inspector, which must have been written for this
STAR file's particles) or from RELION's Select-job file (``--from-selection
Select/job012/backup_selection.star``: rlnSelected 0 is reject, 1-6 keep; one row per particle
of STAR, in order). Kept means what it means in the inspector and in RELION's Select job:
OUT holds the particles labelled keep; --rejected holds every other particle (rejected and
undecided), so the two files together are the input. Rows not listed, and particles the session
left undecided, are undecided: not kept, unless --undecided keep puts them in OUT. --reject alone
therefore needs --undecided (keep: keep the rest; reject: keep nothing). The outputs keep the
input's version, blocks, optics, columns, row order and values exactly; existing files are never
replaced unless --force is given, and nothing is written if any output cannot be.
--selection FILE also writes RELION's Select-job file for STAR: rlnSelected 1 for each kept
particle, 0 for every other one (rejected and, unless --undecided keep, undecided), in input order.

A cryoSPARC .cs input (IN.cs) is written as .cs or as STAR, by each output's extension. A .cs output
holds the kept (or other) rows exactly as stored, every field, for cryoSPARC to import. A STAR
output is the RELION 3.1 conversion (alignments3D/split becomes rlnRandomSubset 1/2); RELION reads
stacks only from .mrcs files, so its image names point to .mrcs links to cryoSPARC's .mrc stacks,
made in OUT_stacks/ beside OUT and named relative to OUT's folder: write OUT in the RELION project
folder. --project-dir is the cryoSPARC project folder when the stacks are not found from IN.cs's
folder or its parents.

examples:
  gan-viewer export particles.star --keep 1,3,5-9 --out kept.star --rejected rejected.star
  gan-viewer export particles.star --reject 2,4 --undecided keep --out kept.star
  gan-viewer export particles.star --session particles.star.gan-viewer.sqlite --out kept.star
  gan-viewer export particles.star --session particles.star.gan-viewer.sqlite --selection backup_selection.star
  gan-viewer export particles.star --from-selection Select/job012/backup_selection.star --out kept.star
  gan-viewer export J24_particles.cs --session J24_particles.cs.gan-viewer.sqlite --out kept.cs --rejected rejected.cs
  gan-viewer export J24_particles.cs --keep 1-500 --out ~/relion/cs_kept.star --project-dir /data/P12
  gan-viewer export particles.star --session particles.star.gan-viewer.sqlite --scores --out kept.star

A micrograph's picks, curated in the inspector (``gan-viewer gui MIC.mrc --coords PICKS --box N``),
are exported with the same --coords and --box: IN is the micrograph, and OUT a RELION coordinate
file (the picks of a coordinate STAR as they are; for EMAN .box and Topaz picks, rlnCoordinateX/Y in
micrograph pixels and Topaz's score as rlnAutopickFigureOfMerit), which RELION's Extract reads:
  gan-viewer export mic1.mrc --coords predicted_particles_all.txt --box 64 \
      --session predicted_particles_all.txt.mic1.gan-viewer.sqlite --out picks/mic1_kept.star
--all-micrographs DIR does so for every micrograph of a Topaz table curated in the inspector (those
beside IN with a session), each to DIR/MIC_kept.star, for RELION's Import (suffix _kept.star):
  gan-viewer export mic1.mrc --coords predicted_particles_all.txt --box 64 --all-micrographs picks/
Picks made on a copy of the micrograph binned by 2 (topaz preprocess -s 2, then topaz extract
without -x 2) take --coords-scale 2 here as in the inspector, and are written in micrograph
pixels; a session is bound to its scale (one curated at another scale is refused, or with
--all-micrographs counted as not curated).

--scores adds the scores the session holds (computed in the inspector: agreement score, raw
agreement, confidence, the curator model's predicted keep) as columns gvAgreement,
gvRawAgreement, gvConfidence, gvPredictedKeep; nan where a particle was not scored.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gan_viewer.cli import add_coords_scale, coords_scale

log = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("star", type=Path, metavar="IN",
                        help="input particle STAR file or cryoSPARC .cs file (or a micrograph, with --coords)")
    parser.add_argument("--coords", type=Path, metavar="PICKS",
                        help="IN is a micrograph and these its picks (RELION .star, EMAN .box, Topaz's table)")
    parser.add_argument("--box", type=int,
                        help="with --coords: the box the picks were curated at, as in the inspector")
    add_coords_scale(parser)
    parser.add_argument("--all-micrographs", type=Path, metavar="DIR",
                        help="with a Topaz table as --coords: every curated micrograph's kept picks, to "
                             "DIR/MIC_kept.star")
    parser.add_argument("--keep", metavar="ROWS", help="1-based rows to keep, e.g. 1,3,5-9")
    parser.add_argument("--reject", metavar="ROWS", help="1-based rows to reject")
    parser.add_argument("--session", type=Path, metavar="FILE", help="take the labels from a session file")
    parser.add_argument("--from-selection", type=Path, metavar="FILE",
                        help="take the labels from RELION's Select-job file (backup_selection.star)")
    parser.add_argument("--undecided", choices=["keep", "reject"],
                        help="where particles without a label go: reject (not kept; the default, as in the "
                             "inspector) or keep (into OUT)")
    parser.add_argument("--out", type=Path, metavar="KEPT.star|KEPT.cs", help="the kept particles (.cs: needs a .cs input)")
    parser.add_argument("--rejected", type=Path, metavar="REJECTED.star|REJECTED.cs",
                        help="also write every particle not kept (rejected and, by default, undecided)")
    parser.add_argument("--selection", type=Path, metavar="backup_selection.star",
                        help="also (or only) write RELION's Select-job file: rlnSelected 1/0 per input row")
    parser.add_argument("--project-dir", type=Path, metavar="DIR",
                        help="cryoSPARC project folder holding a .cs input's stacks (for STAR outputs)")
    parser.add_argument("--scores", action="store_true",
                        help="with --session: add the session's scores as gv... columns (nan where not computed)")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")


def main(args: argparse.Namespace) -> int:
    from gan_viewer.core.curation import Label
    from gan_viewer.core.export import export_curated, labels_from_rows, labels_from_selection, parse_rows
    from gan_viewer.core.session import session_labels, session_scores
    from gan_viewer.errors import InputError
    from gan_viewer.io.tables import read_table

    scale = coords_scale(args)
    if args.all_micrographs is not None:
        return _export_table(args, scale)
    if args.out is None and args.selection is None:
        raise InputError("say where to write: --out KEPT.star and/or --selection backup_selection.star")
    sources = [args.session is not None, args.from_selection is not None,
               args.keep is not None or args.reject is not None]
    if not any(sources):
        raise InputError("say which particles to keep: --keep ROWS, --reject ROWS, --session FILE or "
                         "--from-selection FILE")
    if sum(sources) > 1:
        raise InputError("give one source of labels: --session, --from-selection or row lists")
    if args.scores and args.session is None:
        raise InputError("--scores takes the scores from a session: add --session FILE")
    if args.reject is not None and args.keep is None and args.undecided is None:
        raise InputError("--reject alone leaves every other row undecided, and undecided particles are not kept: "
                         "add --undecided keep to keep the other rows (or --undecided reject to keep none)")
    if (args.coords is None) != (args.box is None):
        raise InputError("a micrograph's picks need both --coords PICKS and --box N (as opened in the inspector)")
    particles = table = read_table(args.star) if args.coords is None else None
    if args.coords is not None:  # as the inspector opened them
        from gan_viewer.core.particles import open_particles

        particles = open_particles(args.star, coords=args.coords, box=args.box, coords_scale=scale)
        particles.close()  # the pixels are not needed
        if particles.scale_warning is not None:
            print(f"warning: {particles.scale_warning}")
        table = particles.coordinate_table()
    if args.session is not None:
        labels = session_labels(args.session, particles)
        provenance = {"labels": f"session {args.session}"}
    elif args.from_selection is not None:
        labels = labels_from_selection(args.from_selection, table)
        provenance = {"labels": f"RELION selection {args.from_selection}"}
    else:
        keep = None if args.keep is None else parse_rows(args.keep, len(table))
        reject = None if args.reject is None else parse_rows(args.reject, len(table))
        labels = labels_from_rows(len(table), keep, reject)
        provenance = {"labels": f"rows keep={args.keep or '-'} reject={args.reject or '-'}"}
    scores = None
    if args.scores:
        scores = session_scores(args.session, particles)
        if not scores:
            raise InputError("holds no scores (score the particles in the inspector first, or leave out --scores)",
                             args.session)
    undecided = Label.KEEP if args.undecided == "keep" else Label.REJECT
    result = export_curated(table, labels, args.out, args.rejected, undecided=undecided, overwrite=args.force,
                            provenance=provenance, selection_path=args.selection,
                            project_dir=args.project_dir, scores=scores)
    print(f"kept {result.kept} -> {result.kept_path or '(no particle file)'}")
    if scores:
        from gan_viewer.core.export import score_label
        print(f"score columns: {', '.join(score_label(name) for name in scores)}")
    if result.rejected_path is not None:
        print(f"not kept {result.rejected} -> {result.rejected_path}")
    if result.selection_path is not None:
        print(f"selection (rlnSelected 1: {result.kept}, 0: {result.rejected}) -> {result.selection_path}")
    if result.links_path is not None:
        print(f"stacks for RELION (.mrcs links) -> {result.links_path}")
    if result.undecided:
        where = "kept" if result.undecided_kept else "not kept"
        hint = "" if args.undecided else " (--undecided keep would keep them)"
        print(f"undecided {result.undecided}: {where}{hint}")
    return 0


def _export_table(args: argparse.Namespace, scale: float | None) -> int:
    """--all-micrographs: every curated micrograph of a Topaz table, from its own session."""
    from gan_viewer.core.curation import Label
    from gan_viewer.core.table_picks import export_table_picks
    from gan_viewer.errors import InputError
    from gan_viewer.io.micrograph import is_picks_table

    if args.coords is None or args.box is None:
        raise InputError("--all-micrographs needs a micrograph, its Topaz picks table (--coords) and the box (--box)")
    if not args.coords.is_file():
        raise InputError("no such file", args.coords)
    if not is_picks_table(args.coords):
        raise InputError("is not a Topaz picks table (image_name, x_coord, y_coord): --all-micrographs exports "
                         "the micrographs such a table names", args.coords)
    given = {"--out": args.out, "--rejected": args.rejected, "--session": args.session, "--selection": args.selection,
             "--keep": args.keep, "--reject": args.reject, "--from-selection": args.from_selection,
             "--scores": args.scores or None}
    others = [flag for flag, value in given.items() if value is not None]
    if others:
        raise InputError(f"--all-micrographs takes each micrograph's labels from its session; drop {', '.join(others)}")
    result = export_table_picks(args.star, args.coords, args.box, args.all_micrographs, overwrite=args.force,
                                undecided=Label.KEEP if args.undecided == "keep" else Label.REJECT,
                                scale=1.0 if scale is None else scale)
    for micrograph, written in result.written:
        print(f"{micrograph.name}: kept {written.kept} of {written.kept + written.rejected} -> {written.kept_path}")
    if result.not_curated:
        print(f"no session (not curated, nothing written): {len(result.not_curated)} micrograph(s), e.g. "
              f"{result.not_curated[0].name}")
    if result.not_found:
        print(f"named in {args.coords.name} but not beside {args.star.name}: {len(result.not_found)}, e.g. "
              f"{result.not_found[0]}")
    if result.scale_warnings:
        print(f"warning: {len(result.scale_warnings)} micrograph(s) with picks only in their top-left part, e.g. "
              f"{result.scale_warnings[0]}")
    return 0
