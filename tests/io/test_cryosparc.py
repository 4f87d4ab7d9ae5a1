"""Tests for gan_viewer.io.cryosparc: cryoSPARC .cs -> RELION 3.1 ParticleTable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation

from gan_viewer.core.particles import open_particles
from gan_viewer.errors import InputError
from gan_viewer.io.cryosparc import cs_bytes, load_cryosparc, read_cryosparc, rotvec_to_relion
from gan_viewer.io.star import read_star, write_star
from tests.conftest import write_cs

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CS_DIR = DATA / "cryosparc"
EMPIAR = DATA / "particles" / "real_empiar10076"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"test data {path} not present")
    return path


def relion_matrix(rot: float, tilt: float, psi: float) -> np.ndarray:
    """RELION's Euler_angles2matrix (src/euler.cpp; pyem geom.euler2rot), angles in degrees."""
    a, b, g = np.deg2rad([rot, tilt, psi])
    ca, cb, cg, sa, sb, sg = np.cos(a), np.cos(b), np.cos(g), np.sin(a), np.sin(b), np.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.array([[cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
                     [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
                     [sc, ss, cb]])


def pyem_expmap(v: np.ndarray) -> np.ndarray:
    """pyem geom.expmap: the Rodrigues matrix of the rotation vector, *transposed*."""
    theta = np.linalg.norm(v)
    if theta < 1e-16:
        return np.eye(3)
    w = v / theta
    k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    return (np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k).T


def synthetic(n: int = 4) -> dict[str, np.ndarray]:
    return {
        "uid": np.arange(n, dtype=np.uint64) + 10**18,
        "blob/path": np.array([b">J3/extract/mic_a.mrc"] * 2 + [b"J3/extract/mic_b.mrc"] * (n - 2), "S40"),
        "blob/idx": np.array([0, 1, 0, 5][:n], np.uint32),
        "blob/shape": np.array([[64, 64]] * n, np.uint32),
        "blob/psize_A": np.array([1.5, 1.5, 2.0, 2.0][:n], np.float32),
        "ctf/accel_kv": np.full(n, 300, np.float32),
        "ctf/cs_mm": np.full(n, 2.7, np.float32),
        "ctf/amp_contrast": np.full(n, 0.1, np.float32),
        "ctf/df1_A": np.linspace(10000, 13000, n).astype(np.float32),
        "ctf/df2_A": np.linspace(9000, 12000, n).astype(np.float32),
        "ctf/df_angle_rad": np.full(n, np.pi / 6, np.float32),
        "ctf/phase_shift_rad": np.full(n, np.pi / 2, np.float32),
        "alignments3D/pose": np.array([[0, np.pi / 2, 0], [np.pi / 2, 0, 0], [0, 0, 0], [0.3, -0.2, 1.1]][:n], np.float32),
        "alignments3D/shift": np.array([[1.0, -2.0]] * n, np.float32),
        "alignments3D/psize_A": np.full(n, 3.0, np.float32),  # aligned at another pixel size than the blob
        "alignments3D/class": np.zeros(n, np.uint32),
        "location/micrograph_path": np.array([b">S1/mic_a.mrc"] * 2 + [b"S1/mic_b.mrc"] * (n - 2), "S20"),
        "location/micrograph_shape": np.array([[4000, 3000]] * n, np.uint32),  # [ny, nx]
        "location/center_x_frac": np.full(n, 0.5, np.float32),
        "location/center_y_frac": np.full(n, 0.25, np.float32),
    }


# -- pose convention ---------------------------------------------------------------------------
def test_pose_convention_known_vectors():
    # Hand-checkable poses: rotation by 90 deg about y, x, z; identity; and row 1 of the real
    # P12_J24 file, whose Eulers were computed with pyem's expmap + rot2euler.
    poses = np.array([[0, np.pi / 2, 0], [np.pi / 2, 0, 0], [0, 0, np.pi / 2], [0, 0, 0],
                      [2.338663339614868, -0.25595566630363464, -1.2236783504486084]])
    expected = np.array([[0, 90, 0], [-90, 90, 90], [0, 0, 90], [0, 0, 0],
                         [-157.80848736, 118.79097176, 34.68329967]])
    np.testing.assert_allclose(rotvec_to_relion(poses), expected, atol=1e-6)


def test_pose_matrices_match_pyem_and_cryodrgn():
    rng = np.random.default_rng(7)
    poses = np.vstack([rng.normal(size=(200, 3)) * 2, [[0, 0, 0.4], [0, np.pi, 0], [np.pi, 0, 0],
                                                        [0, 0, -np.pi], [1e-9, 0, 0]]])
    eulers = rotvec_to_relion(poses)
    assert np.all((eulers[:, 1] >= 0) & (eulers[:, 1] <= 180))
    assert np.all((eulers[:, [0, 2]] > -180 - 1e-9) & (eulers[:, [0, 2]] <= 180 + 1e-9))
    for pose, (rot, tilt, psi) in zip(poses, eulers):
        rodrigues = Rotation.from_rotvec(pose).as_matrix()  # == cryoDRGN lie_tools.expmap(pose)
        # scipy's intrinsic ZYZ matrix of the RELION Eulers is the plain Rodrigues matrix ...
        np.testing.assert_allclose(Rotation.from_euler("ZYZ", [rot, tilt, psi], degrees=True).as_matrix(),
                                   rodrigues, atol=1e-9)
        # ... and RELION's own matrix A is its transpose, which is what pyem's expmap returns and
        # what cryoDRGN's parse_pose_csparc stores ("Transposing rotation matrix").
        np.testing.assert_allclose(relion_matrix(rot, tilt, psi), pyem_expmap(pose), atol=1e-9)
        np.testing.assert_allclose(relion_matrix(rot, tilt, psi), rodrigues.T, atol=1e-9)


# -- synthetic files ---------------------------------------------------------------------------
def test_synthetic_full(tmp_path):
    t = read_cryosparc(write_cs(tmp_path / "p.cs", synthetic()))
    assert t.version == 30001 and t.path == tmp_path / "p.cs"
    p = t.particles
    assert list(p["rlnImageName"]) == ["000001@J3/extract/mic_a.mrc", "000002@J3/extract/mic_a.mrc",
                                       "000001@J3/extract/mic_b.mrc", "000006@J3/extract/mic_b.mrc"]
    assert list(p["rlnMicrographName"]) == ["S1/mic_a.mrc"] * 2 + ["S1/mic_b.mrc"] * 2
    np.testing.assert_allclose(p["rlnCoordinateX"], 1500.0)
    np.testing.assert_allclose(p["rlnCoordinateY"], 1000.0)
    np.testing.assert_allclose(p["rlnDefocusAngle"], 30.0, atol=1e-4)
    np.testing.assert_allclose(p["rlnPhaseShift"], 90.0, atol=1e-4)
    np.testing.assert_allclose(t.eulers()[:3], [[0, 90, 0], [-90, 90, 90], [0, 0, 0]], atol=1e-4)
    # shift is in alignment pixels (3 A), sign kept: origin = shift * alignments3D/psize_A
    np.testing.assert_allclose(p[["rlnOriginXAngst", "rlnOriginYAngst"]], [[3.0, -6.0]] * 4)
    np.testing.assert_allclose(t.origins_px(), [[2.0, -4.0]] * 2 + [[1.5, -3.0]] * 2)
    assert list(p["rlnClassNumber"]) == [1] * 4
    # two pixel sizes -> two optics groups
    assert list(t.optics["rlnOpticsGroup"]) == [1, 2]
    assert list(p["rlnOpticsGroup"]) == [1, 1, 2, 2]
    np.testing.assert_allclose(t.pixel_size(), [1.5, 1.5, 2.0, 2.0])
    assert list(t.box_size()) == [64] * 4
    assert list(t.optics["rlnSphericalAberration"]) == [2.7, 2.7]  # not 2.700000047683716
    np.testing.assert_allclose(t.optics_values("rlnVoltage"), 300.0)


def test_synthetic_missing_fields(tmp_path):
    fields = {k: v for k, v in synthetic().items() if k in ("blob/path", "blob/idx")}
    t = read_cryosparc(write_cs(tmp_path / "bare.cs", fields))
    assert set(t.columns) == {"rlnImageName", "rlnOpticsGroup"}
    assert t.pixel_size() is None and t.box_size() is None and t.eulers() is None
    assert list(t.optics["rlnOpticsGroup"]) == [1]
    np.testing.assert_array_equal(t.origins_px(), np.zeros((4, 2)))


def test_2d_alignments_give_psi(tmp_path):
    fields = {k: v for k, v in synthetic().items() if not k.startswith("alignments3D")}
    fields["alignments2D/pose"] = np.array([0.0, np.pi / 2, 3 * np.pi / 2, -np.pi / 4], np.float32)
    fields["alignments2D/shift"] = np.array([[2.0, 0.0]] * 4, np.float32)
    fields["alignments2D/class"] = np.array([0, 3, 3, 1], np.uint32)
    t = read_cryosparc(write_cs(tmp_path / "c2d.cs", fields))
    np.testing.assert_allclose(t.particles["rlnAnglePsi"], [0, 90, -90, -45], atol=1e-4)
    assert "rlnAngleRot" not in t.columns
    np.testing.assert_allclose(t.particles["rlnOriginXAngst"], [3.0, 3.0, 4.0, 4.0])  # blob psize
    assert list(t.particles["rlnClassNumber"]) == [1, 4, 4, 2]


def test_zero_rows_gives_empty_table(tmp_path):
    fields = {k: v[:0] for k, v in synthetic().items()}
    t = read_cryosparc(write_cs(tmp_path / "empty.cs", fields))
    assert len(t) == 0 and len(t.optics) == 0
    assert "rlnImageName" in t.columns and "rlnAngleTilt" in t.columns


def test_no_blob_path_is_input_error(tmp_path):
    fields = {k: v for k, v in synthetic().items() if k != "blob/path"}
    path = write_cs(tmp_path / "nopath.cs", fields)
    with pytest.raises(InputError, match="no particle image paths") as err:
        read_cryosparc(path)
    assert str(err.value).startswith(str(path))


@pytest.mark.parametrize("kind", ["text", "empty", "plain", "pickle", "missing"])
def test_not_a_cs_file(tmp_path, kind):
    path = tmp_path / f"{kind}.cs"
    if kind == "text":
        path.write_text("data_\nloop_\n_rlnImageName\n1@a.mrcs\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "plain":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros((3, 3)))
    elif kind == "pickle":
        with open(path, "wb") as fh:
            np.save(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError) as err:
        read_cryosparc(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_open_particles_on_synthetic(tmp_path):
    import mrcfile

    stack = np.arange(3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8)
    (tmp_path / "J9").mkdir()
    with mrcfile.new(tmp_path / "J9" / "s.mrcs") as mrc:
        mrc.set_data(stack)
    fields = {"blob/path": np.array([b">J9/s.mrcs"] * 2, "S12"), "blob/idx": np.array([2, 0], np.uint32),
              "blob/shape": np.array([[8, 8]] * 2, np.uint32), "blob/psize_A": np.full(2, 1.0, np.float32)}
    (tmp_path / "J10").mkdir()
    source = open_particles(write_cs(tmp_path / "J10" / "particles.cs", fields))  # resolved via parent
    np.testing.assert_array_equal(source.images([0, 1]), stack[[2, 0]])


def test_write_star_round_trip(tmp_path):
    t = read_cryosparc(write_cs(tmp_path / "p.cs", synthetic()))
    back = read_star(write_star(t, tmp_path / "p.star"))
    assert back.version == 30001 and back.optics_block == "optics" and back.particles_block == "particles"
    pd.testing.assert_frame_equal(back.particles, t.particles, check_dtype=False)
    pd.testing.assert_frame_equal(back.optics, t.optics, check_dtype=False)


# -- real files --------------------------------------------------------------------------------
def test_real_schema_only_file_is_clear_error():
    # 0 rows, 106 fields, but no blob/* fields at all: not a particle-image file for us.
    path = need(CS_DIR / "cryosparc-tools_4k_dataset.cs")
    with pytest.raises(InputError, match="no particle image paths") as err:
        read_cryosparc(path)
    assert str(path) in str(err.value)


def test_real_refinement_file(tmp_path):
    path = need(CS_DIR / "cryosparc_P12_J24_001_particles.cs")
    raw = np.load(path, allow_pickle=False)
    t = read_cryosparc(path)
    assert len(t) == 2019 and len(t.optics) == 1
    assert t.particles["rlnImageName"].iloc[0].startswith("000001@J19/extract/20150917_05196_")
    np.testing.assert_allclose(t.pixel_size(), 2.95)
    assert list(set(t.box_size())) == [180]
    np.testing.assert_allclose(t.optics_values("rlnVoltage"), 200.0)
    np.testing.assert_allclose(t.eulers()[0], [-157.80848736, 118.79097176, 34.68329967], atol=1e-4)
    rots = Rotation.from_euler("ZYZ", t.eulers(), degrees=True).as_matrix()
    np.testing.assert_allclose(rots, Rotation.from_rotvec(raw["alignments3D/pose"].astype(np.float64)).as_matrix(),
                               atol=1e-9)
    np.testing.assert_allclose(t.origins_px(), raw["alignments3D/shift"], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(t.particles["rlnDefocusAngle"], np.rad2deg(raw["ctf/df_angle_rad"].astype(np.float64)))
    # the gold-standard halves: split 0/1 (1010 and 1009 rows) -> rlnRandomSubset 1/2, row by row
    np.testing.assert_array_equal(t.particles["rlnRandomSubset"], raw["alignments3D/split"].astype(np.int64) + 1)
    assert np.bincount(t.particles["rlnRandomSubset"]).tolist() == [0, 1010, 1009]
    back = read_star(write_star(t, tmp_path / "j24.star"))
    pd.testing.assert_frame_equal(back.particles, t.particles, check_dtype=False)
    pd.testing.assert_frame_equal(back.optics, t.optics, check_dtype=False)


def test_split_becomes_random_subset_only_for_3d_alignments(tmp_path):
    fields = synthetic()
    t = read_cryosparc(write_cs(tmp_path / "p.cs", {**fields, "alignments3D/split": np.array([1, 0, 0, 1], np.uint32)}))
    assert t.particles["rlnRandomSubset"].tolist() == [2, 1, 1, 2]
    two_d = {k: v for k, v in fields.items() if not k.startswith("alignments3D")}
    two_d.update({"alignments2D/pose": np.zeros(4, np.float32), "alignments2D/split": np.ones(4, np.uint32)})
    assert "rlnRandomSubset" not in read_cryosparc(write_cs(tmp_path / "c2d.cs", two_d)).columns
    bad = write_cs(tmp_path / "bad.cs", {**fields, "alignments3D/split": np.array([0, 1, 2, 0], np.uint32)})
    with pytest.raises(InputError, match=r"bad\.cs: field alignments3D/split row 3 holds 2, expected 0 or 1"):
        read_cryosparc(bad)


def test_cs_bytes_keeps_every_field(tmp_path):
    path = write_cs(tmp_path / "p.cs", synthetic())
    rows = load_cryosparc(path)
    (tmp_path / "sub.cs").write_bytes(cs_bytes(rows[[3, 1]]))
    back = np.load(tmp_path / "sub.cs", allow_pickle=False)
    assert back.dtype == rows.dtype
    np.testing.assert_array_equal(back, rows[[3, 1]])


def test_real_2d_export_strips_marker():
    t = read_cryosparc(need(CS_DIR / "cryosparc_J2_particles_exported.cs"))
    assert len(t) == 22
    names = t.particles["rlnImageName"]
    assert not names.str.contains("@>").any()
    assert names.iloc[0] == "000001@J1/imported/000090334788266266069_18jam15b_0345_ali_DW.mrcs"
    assert "rlnAnglePsi" in t.columns and "rlnAngleTilt" not in t.columns
    np.testing.assert_allclose(t.pixel_size(), 1.345, rtol=1e-6)


def test_real_empiar_matches_star():
    cs = read_cryosparc(need(EMPIAR / "empiar_10076_7.cs"))
    star = read_star(need(EMPIAR / "empiar_10076_7.star"))
    assert len(cs) == len(star) == 7
    assert list(cs.particles["rlnImageName"]) == [f"{i:06d}@empiar_10076_7.mrc" for i in range(1, 8)]
    for label, atol in [("rlnDefocusU", 0.01), ("rlnDefocusV", 0.01), ("rlnDefocusAngle", 1e-4)]:
        np.testing.assert_allclose(cs.optics_values(label), star.optics_values(label), rtol=0, atol=atol)
    for label in ("rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast"):
        np.testing.assert_allclose(cs.optics_values(label), star.optics_values(label), rtol=1e-6)
    # STAR: rlnDetectorPixelSize 5 um / rlnMagnification 38168 = 1.30999 A
    np.testing.assert_allclose(cs.pixel_size(), star.pixel_size(), rtol=1e-5)


def test_real_empiar_images_match_star():
    from_cs = open_particles(need(EMPIAR / "empiar_10076_7.cs"))
    from_star = open_particles(need(EMPIAR / "empiar_10076_7.star"))
    assert len(from_cs) == len(from_star) == 7 and from_cs.box == from_star.box == 320
    np.testing.assert_allclose(from_cs.pixel_size, from_star.pixel_size, rtol=1e-5)
    images = from_cs.images(np.arange(7))
    assert images.shape == (7, 320, 320) and images.std() > 0
    np.testing.assert_array_equal(images, from_star.images(np.arange(7)))


# -- fields of the wrong type, shape or value ------------------------------------------------------
@pytest.mark.parametrize("field, value, message", [
    ("ctf/df1_A", np.array([b"abc"] * 4, "S9"), "field ctf/df1_A is |S9, expected numbers"),
    ("blob/shape", np.array([64] * 4, np.uint32), r"field blob/shape is <u4, expected integers of shape \(2,\)"),
    ("blob/idx", np.array([0.5, 1, 2, 3], np.float32), "field blob/idx is <f4, expected integers"),
    ("blob/path", np.arange(4, dtype=np.int64), "field blob/path is <i8, expected text"),
    ("alignments3D/pose", np.zeros((4, 2), np.float32), r"field alignments3D/pose is <f4 of shape \(2,\)"),
    ("alignments3D/shift", np.zeros((4, 3), np.float32), r"alignments3D/shift is <f4 of shape \(3,\)"),
    ("location/micrograph_shape", np.zeros(4, np.float32), "location/micrograph_shape is <f4"),
    ("ctf/df1_A", np.array([1e4, np.nan, 1e4, 1e4], np.float32), "ctf/df1_A row 2 holds nan, expected a finite"),
    ("alignments3D/pose", np.array([[0, 0, 0], [0, np.inf, 0]] * 2, np.float32), "pose row 2 holds"),
    ("blob/psize_A", np.array([1.5, 0, 1.5, 1.5], np.float32), "blob/psize_A row 2 holds 0.0, expected a positive"),
    ("blob/shape", np.array([[64, 64], [64, 64], [0, 0], [64, 64]], np.uint32), "blob/shape row 3 holds"),
    ("blob/idx", np.array([0, -1, 2, 3], np.int32), "blob/idx row 2 holds -1, expected an index >= 0"),
])
def test_wrong_field_types_and_values(tmp_path, field, value, message):
    fields = synthetic()
    fields[field] = value
    path = write_cs(tmp_path / "bad.cs", fields)
    with pytest.raises(InputError, match=message) as err:
        read_cryosparc(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def with_npy_shape(raw: bytes, shape: str) -> bytes:
    """The .npy bytes ``raw`` (format 1.0) with its header's shape replaced, the header length kept."""
    length = int.from_bytes(raw[8:10], "little")
    header = raw[10:10 + length].decode("latin1")
    new = header.replace("'shape': (4,)", f"'shape': {shape}").rstrip()
    new += " " * (length - len(new) - 1) + "\n"
    assert len(new) == length and new != header
    return raw[:10] + new.encode("latin1") + raw[10 + length:]


@pytest.mark.parametrize("change", ["truncate", "append", "huge_shape", "2d_shape", "unclosed_bracket"])
def test_npy_header_must_match_the_file_size(tmp_path, change):
    path = write_cs(tmp_path / "p.cs", synthetic())
    raw = path.read_bytes()
    raw = {"truncate": lambda: raw[:-7], "append": lambda: raw + b"\0" * 7,
           "huge_shape": lambda: with_npy_shape(raw, "(1000000000000,)"),  # 10**12 rows in a few hundred bytes
           "2d_shape": lambda: with_npy_shape(raw, "(2, 2)"),
           "unclosed_bracket": lambda: with_npy_shape(raw, "(4,")}[change]()  # numpy's parser: TokenError
    path.write_bytes(raw)
    with pytest.raises(InputError, match="header describes|2-D array|not a numpy array") as err:
        read_cryosparc(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_the_micrographs_pixel_size_places_fourier_cropped_picks(tmp_path):
    """Particles extracted at 1 A/px and Fourier-cropped to 2 A/px: the coordinates are in the
    micrograph's 1 A pixels, which the optics table now says, so duplicate picks are found at the
    right distance (RELION's assumption, the particles' 2 A, would double it)."""
    from gan_viewer.core.duplicates import outranked_by, pick_positions

    fields = synthetic()
    fields["blob/psize_A"] = np.full(4, 2.0, np.float32)
    fields["location/micrograph_psize_A"] = np.full(4, 1.0, np.float32)
    fields["location/center_x_frac"] = np.array([0.5, 0.5 + 20 / 3000, 0.7, 0.9], np.float32)  # 0, 1: 20 px apart
    fields["location/micrograph_path"] = np.array([b"S1/mic_a.mrc"] * 4, "S20")
    fields["alignments3D/shift"] = np.zeros((4, 2), np.float32)
    t = read_cryosparc(write_cs(tmp_path / "p.cs", fields))
    np.testing.assert_allclose(t.optics["rlnMicrographPixelSize"], [1.0])
    assert outranked_by(pick_positions(t), 30.0).tolist() == [1, -1, -1, -1]  # 20 A apart, not 40
    assert outranked_by(pick_positions(t, micrograph_apix=2.0), 30.0).tolist() == [-1, -1, -1, -1]
