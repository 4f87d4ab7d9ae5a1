from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gan_viewer.core.duplicates import outranked_by, pick_positions
from gan_viewer.errors import InputError
from gan_viewer.io.star import table_from_dataframe


def picks(xy, micrographs=None, shifts=None, apix: float = 2.0, **optics):
    """A RELION 3.1 table of picks at (n, 2) micrograph-pixel ``xy``; ``shifts`` (n, 2) in Angstrom."""
    xy = np.asarray(xy, float)
    parts = pd.DataFrame({"rlnMicrographName": micrographs or ["mic1.mrc"] * len(xy),
                          "rlnCoordinateX": xy[:, 0], "rlnCoordinateY": xy[:, 1],
                          "rlnImageName": [f"{i + 1}@p.mrcs" for i in range(len(xy))], "rlnOpticsGroup": 1})
    if shifts is not None:
        parts["rlnOriginXAngst"], parts["rlnOriginYAngst"] = np.asarray(shifts, float).T
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [apix], "rlnImageSize": [64],
                           **{k: [v] for k, v in optics.items()}})
    return table_from_dataframe(parts, optics)


def test_relions_rule_the_later_pick_stays_and_far_picks_both_stay() -> None:
    """At 2 A/px and 30 A: 0 and 1 are 8 A apart (0 goes, 1 stays). 2, 3 and 4 are a chain, 28 A
    apart each, so 2 goes for 3 and 3 for 4, as RELION's loop has it. 5 and 6 are 30 A apart
    exactly (inclusive, as RELION's <=); 7 is alone."""
    xy = [[100, 100], [104, 100], [300, 300], [314, 300], [328, 300], [600, 600], [615, 600], [900, 900]]
    assert outranked_by(pick_positions(picks(xy)), 30.0).tolist() == [1, -1, 3, 4, -1, 6, -1, -1]
    # with 3 gone, 2 and 4 (56 A apart) both stay
    present = np.arange(8) != 3
    assert outranked_by(pick_positions(picks(xy)), 30.0, present=present).tolist() == [1, -1, -1, -1, -1, 6, -1, -1]
    # a pick goes for the best of the picks that outrank it, not the nearest or the first
    three = pick_positions(picks([[100, 100], [104, 100], [108, 100]]))
    assert outranked_by(three, 30.0, rank=np.array([0.0, 5.0, 3.0])).tolist() == [1, -1, 1]


def test_the_refined_shift_is_taken_off_the_pick() -> None:
    """Two picks 50 A apart that refinement moved onto one particle are duplicates; two picks
    at one place that refinement moved 50 A apart are not."""
    xy = [[100, 100], [125, 100], [500, 500], [500, 500]]
    shifts = [[0, 0], [50, 0], [25, 0], [-25, 0]]  # Angstrom: the centre is coordinate - shift
    positions = pick_positions(picks(xy, shifts=shifts))
    np.testing.assert_allclose(positions.xy[:2], [[200, 200], [200, 200]])
    assert outranked_by(positions, 30.0).tolist() == [1, -1, -1, -1]


def test_relion30_shifts_in_particle_pixels_and_the_micrograph_pixel_size() -> None:
    parts = pd.DataFrame({"rlnMicrographName": ["m"] * 2, "rlnCoordinateX": [100.0, 125.0],
                          "rlnCoordinateY": [100.0, 100.0], "rlnOriginX": [0.0, 12.5], "rlnOriginY": [0.0, 0.0],
                          "rlnDetectorPixelSize": [5.0] * 2, "rlnMagnification": [25000.0] * 2})  # 2 A/px
    positions = pick_positions(table_from_dataframe(parts))
    np.testing.assert_allclose(positions.xy, [[200, 200], [225, 200]])  # 12.5 px of 2 A: 25 A
    # particles binned 2x at extraction: the micrograph's pixel is 1 A, from the optics table or the caller
    binned = picks([[100, 100], [125, 100]], apix=2.0, rlnMicrographPixelSize=1.0)
    np.testing.assert_allclose(pick_positions(binned).xy[:, 0], [100, 125])
    np.testing.assert_allclose(pick_positions(binned, micrograph_apix=4.0).xy[:, 0], [400, 500])
    assert outranked_by(pick_positions(binned), 30.0).tolist() == [1, -1]
    assert outranked_by(pick_positions(binned, micrograph_apix=4.0), 30.0).tolist() == [-1, -1]


def test_picks_on_other_micrographs_never_pair() -> None:
    positions = pick_positions(picks([[100, 100]] * 4, micrographs=["a", "b", "a", "c"]))
    assert outranked_by(positions, 30.0).tolist() == [2, -1, -1, -1]


def test_absent_picks_neither_go_nor_make_others_go_and_rank_decides() -> None:
    """The inspector's use: a rejected pick is not there; a kept one outranks undecided ones."""
    positions = pick_positions(picks([[100, 100], [104, 100], [108, 100]]))
    assert outranked_by(positions, 30.0).tolist() == [2, 2, -1]
    assert outranked_by(positions, 30.0, present=np.array([True, True, False])).tolist() == [1, -1, -1]
    assert outranked_by(positions, 30.0, rank=np.array([5.0, 1.0, 2.0])).tolist() == [-1, 0, 0]
    assert outranked_by(positions, 30.0, present=np.array([True, False, False])).tolist() == [-1, -1, -1]


def test_many_picks_match_the_pairwise_rule() -> None:
    """10,000 picks on 50 micrographs against RELION's double loop, written out."""
    rng = np.random.default_rng(0)
    n = 10_000
    xy = rng.uniform(0, 2000, (n, 2))
    mics = [f"m{k}" for k in rng.integers(0, 50, n)]
    positions = pick_positions(picks(xy, micrographs=mics, shifts=rng.normal(0, 10, (n, 2))))
    out = outranked_by(positions, 30.0)
    expected = np.full(n, False)
    for code in np.unique(positions.micrograph):
        rows = np.flatnonzero(positions.micrograph == code)
        d = np.linalg.norm(positions.xy[rows, None] - positions.xy[None, rows], axis=-1)
        later = np.triu(d <= 30.0, k=1)
        expected[rows] = later.any(axis=1)
    assert 0 < expected.sum() < n
    np.testing.assert_array_equal(out >= 0, expected)
    assert (out[out >= 0] > np.flatnonzero(out >= 0)).all()  # each goes for a later pick


@pytest.mark.parametrize("drop, message", [("rlnMicrographName", "needs rlnMicrographName"),
                                           ("rlnCoordinateY", "needs rlnCoordinateY")])
def test_what_cannot_be_placed_is_said(drop: str, message: str) -> None:
    table = picks([[1, 1], [2, 2]])
    table.blocks["particles"] = table.particles.drop(columns=drop)
    with pytest.raises(InputError, match=message):
        pick_positions(table)


def test_bad_numbers_are_refused() -> None:
    table = picks([[1, 1], [np.nan, 2]])
    with pytest.raises(InputError, match="particle 2: rlnCoordinateX/Y is not a number"):
        pick_positions(table)
    with pytest.raises(InputError, match="micrograph pixel size -1"):
        pick_positions(picks([[1, 1]]), micrograph_apix=-1.0)
    with pytest.raises(ValueError, match="minimum distance"):
        outranked_by(pick_positions(picks([[1, 1]])), float("nan"))


def test_a_micrograph_with_its_picks_and_a_bare_stack(tmp_path) -> None:
    import mrcfile

    from gan_viewer.core.duplicates import source_micrograph_pixel_sizes, source_pick_positions
    from gan_viewer.core.micrograph_particles import MicrographParticles
    from gan_viewer.core.particles import StackParticles
    from tests.conftest import write_mrcs

    with mrcfile.new(tmp_path / "mic.mrc") as mrc:
        mrc.set_data(np.zeros((64, 80), np.float32))
        mrc.voxel_size = 1.5
    (tmp_path / "picks.star").write_text("data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
                                         "20 30\n24 30\n50 20\n")
    source = MicrographParticles(tmp_path / "mic.mrc", tmp_path / "picks.star", 16)
    np.testing.assert_allclose(source_micrograph_pixel_sizes(source), 1.5)
    assert outranked_by(source_pick_positions(source), 6.0).tolist() == [1, -1, -1]  # 4 px of 1.5 A
    assert outranked_by(source_pick_positions(source, micrograph_apix=2.0), 6.0).tolist() == [-1, -1, -1]
    with pytest.raises(InputError, match="a stack alone does not say where"):
        source_pick_positions(StackParticles(write_mrcs(tmp_path / "s.mrcs", np.zeros((2, 8, 8), np.float32))))


def test_topaz_picks_keep_the_higher_score_and_relion_sets_the_later_pick(tmp_path) -> None:
    """Topaz writes each micrograph's picks best first: the file's order would keep the worse."""
    import mrcfile

    from gan_viewer.core.duplicates import source_pick_positions, source_pick_rank
    from gan_viewer.core.micrograph_particles import MicrographParticles

    with mrcfile.new(tmp_path / "mic.mrc") as mrc:
        mrc.set_data(np.zeros((64, 80), np.float32))
        mrc.voxel_size = 1.5
    (tmp_path / "picks.txt").write_text("image_name\tx_coord\ty_coord\tscore\n"
                                        "mic\t20\t30\t2.5\nmic\t50\t20\t1.0\nmic\t24\t30\t-0.5\n"
                                        "mic\t52\t20\t1.0\n")
    source = MicrographParticles(tmp_path / "mic.mrc", tmp_path / "picks.txt", 16)
    rank, rule = source_pick_rank(source)
    assert rank.tolist() == [3, 1, 0, 2] and "higher score" in rule
    # pick 2 is 4 px from pick 0 with a lower score; 1 and 3 tie on score: the later stays
    assert outranked_by(source_pick_positions(source), 6.0, rank).tolist() == [-1, 3, 0, -1]
    (tmp_path / "picks.star").write_text("data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
                                         "_rlnAutopickFigureOfMerit #3\n20 30 2.5\n24 30 -0.5\n")
    rank, rule = source_pick_rank(MicrographParticles(tmp_path / "mic.mrc", tmp_path / "picks.star", 16))
    assert rank.tolist() == [0, 1] and "RELION" in rule  # RELION's rule, as relion_star_handler


def test_segments_of_one_filament_are_not_duplicates_of_each_other() -> None:
    """Helical segments 8 A apart along filament 1; filament 2 was picked over filament 1's
    first segments (another tube, same place) on the same micrograph; filament 1 of another
    micrograph lies at the same coordinates."""
    xy = [[100, 100], [104, 100], [108, 100], [100, 100], [104, 100], [100, 100]]
    table = picks(xy, micrographs=["a"] * 5 + ["b"])
    table.particles["rlnHelicalTubeID"] = [1, 1, 1, 2, 2, 1]
    positions = pick_positions(table)
    assert positions.filament.tolist()[:5] == [0, 0, 0, 1, 1] and positions.filament[5] not in (0, 1)
    # at 2 A/px, 0, 1 and 2 each lie within 10 A of 4 (the latest of filament 2's segments near
    # them) and go for it; 3 and 4 stay, though 8 A apart, being one filament
    assert outranked_by(positions, 10.0).tolist() == [4, 4, 4, -1, -1, -1]
    table.particles["rlnHelicalTubeID"] = [1, 1, 1, 1, 1, 1]  # one filament: nothing goes
    assert (outranked_by(pick_positions(table), 10.0) < 0).all()
