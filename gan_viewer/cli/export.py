"""Write the kept particles of a STAR file, and optionally all the others, as new STAR files.

Labels come from 1-based row lists (``--keep 1,3,5-9``, ``--reject ...``) or from a curation
session (``--session FILE``, as saved by the inspector, which must have been written for this
STAR file's particles). Kept means what it means in the inspector and in RELION's Select job:
OUT holds the particles labelled keep; --rejected holds every other particle (rejected and
undecided), so the two files together are the input. Rows not listed, and particles the session
left undecided, are undecided: not kept, unless --undecided keep puts them in OUT. --reject alone
therefore needs --undecided (keep: keep the rest; reject: keep nothing). The outputs keep the
input's version, blocks, optics, columns, row order and values exactly; existing files are never
replaced unless --force is given, and nothing is written if any output cannot be.

examples:
  gan-viewer export particles.star --keep 1,3,5-9 --out kept.star --rejected rejected.star
  gan-viewer export particles.star --reject 2,4 --undecided keep --out kept.star
  gan-viewer export particles.star --session particles.star.gan-viewer.sqlite --out kept.star
  gan-viewer export particles.star --session particles.star.gan-viewer.sqlite --scores --out kept.star

--scores adds the scores the session holds (computed in the inspector: agreement score, raw
agreement, confidence, the curator model's predicted keep) as columns gvAgreementScore,
gvRawAgreement, gvConfidence, gvPredictedKeep; nan where a particle was not scored.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("star", type=Path, help="input particle STAR file")
    parser.add_argument("--keep", metavar="ROWS", help="1-based rows to keep, e.g. 1,3,5-9")
    parser.add_argument("--reject", metavar="ROWS", help="1-based rows to reject")
    parser.add_argument("--session", type=Path, metavar="FILE", help="take the labels from a session file")
    parser.add_argument("--undecided", choices=["keep", "reject"],
                        help="where particles without a label go: reject (not kept; the default, as in the "
                             "inspector) or keep (into OUT)")
    parser.add_argument("--out", type=Path, required=True, metavar="KEPT.star", help="the kept particles")
    parser.add_argument("--rejected", type=Path, metavar="REJECTED.star",
                        help="also write every particle not kept (rejected and, by default, undecided)")
    parser.add_argument("--scores", action="store_true",
                        help="with --session: add the session's scores as gv... columns (nan where not computed)")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")


def main(args: argparse.Namespace) -> int:
    from gan_viewer.core.curation import Label
    from gan_viewer.core.export import export_curated, labels_from_rows, parse_rows
    from gan_viewer.core.session import session_labels, session_scores
    from gan_viewer.errors import InputError
    from gan_viewer.io.star import read_star

    if args.session is None and args.keep is None and args.reject is None:
        raise InputError("say which particles to keep: --keep ROWS, --reject ROWS or --session FILE")
    if args.session is not None and (args.keep or args.reject):
        raise InputError("give either --session or row lists, not both")
    if args.scores and args.session is None:
        raise InputError("--scores takes the scores from a session: add --session FILE")
    if args.reject is not None and args.keep is None and args.undecided is None:
        raise InputError("--reject alone leaves every other row undecided, and undecided particles are not kept: "
                         "add --undecided keep to keep the other rows (or --undecided reject to keep none)")
    table = read_star(args.star)
    if args.session is not None:
        labels = session_labels(args.session, table)
        provenance = {"labels": f"session {args.session}"}
    else:
        keep = None if args.keep is None else parse_rows(args.keep, len(table))
        reject = None if args.reject is None else parse_rows(args.reject, len(table))
        labels = labels_from_rows(len(table), keep, reject)
        provenance = {"labels": f"rows keep={args.keep or '-'} reject={args.reject or '-'}"}
    scores = None
    if args.scores:
        scores = session_scores(args.session, table)
        if not scores:
            raise InputError("holds no scores (score the particles in the inspector first, or leave out --scores)",
                             args.session)
    undecided = Label.KEEP if args.undecided == "keep" else Label.REJECT
    result = export_curated(table, labels, args.out, args.rejected, undecided=undecided, overwrite=args.force,
                            provenance=provenance, scores=scores)
    print(f"kept {result.kept} -> {result.kept_path}")
    if scores:
        from gan_viewer.core.export import score_label
        print(f"score columns: {', '.join(score_label(name) for name in scores)}")
    if result.rejected_path is not None:
        print(f"not kept {result.rejected} -> {result.rejected_path}")
    if result.undecided:
        where = "kept" if result.undecided_kept else "not kept"
        hint = "" if args.undecided else " (--undecided keep would keep them)"
        print(f"undecided {result.undecided}: {where}{hint}")
    return 0
