"""Atomic model -> density map: axes, handedness, centring, scale, flags, errors, and EMD-1883."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import gemmi
import mrcfile
import numpy as np
import pytest
from scipy import ndimage

from gan_viewer.errors import InputError
from gan_viewer.sim.atomic import AtomicModel, atoms_to_map, load_model, model_to_map, suggested_box

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
STRUCTURES = DATA / "structures"

#: (record, atom name, residue, x, y, z, element) of a tiny model with H, a ligand and waters
TINY = [
    ("ATOM", "N", "ALA", 0.0, 0.0, 0.0, "N"), ("ATOM", "CA", "ALA", 1.458, 0.0, 0.0, "C"),
    ("ATOM", "C", "ALA", 2.009, 1.42, 0.0, "C"), ("ATOM", "O", "ALA", 1.251, 2.39, 0.0, "O"),
    ("ATOM", "CB", "ALA", 1.988, -0.773, -1.199, "C"), ("ATOM", "H", "ALA", -0.5, 0.8, 0.0, "H"),
    ("ATOM", "HA", "ALA", 1.8, -0.5, 0.9, "H"),
    ("HETATM", "ZN", "ZN", 4.0, 4.0, 4.0, "ZN"),
    ("HETATM", "O", "HOH", 6.0, -3.0, 1.0, "O"), ("HETATM", "O", "HOH", -3.0, 3.0, 2.0, "O"),
]


def write_pdb(path: Path, atoms: list[tuple]) -> Path:
    """Fixed-column PDB; every atom its own residue of chain A."""
    lines = []
    for i, (record, name, resname, x, y, z, element) in enumerate(atoms, start=1):
        name = f" {name:<3}" if len(name) < 4 and len(element) == 1 else f"{name:<4}"
        lines.append(f"{record:<6}{i:5d} {name} {resname:>3} A{i:4d}    {x:8.3f}{y:8.3f}{z:8.3f}"
                     f"{1.0:6.2f}{20.0:6.2f}          {element:>2}")
    path.write_text("\n".join(lines + ["END", ""]))
    return path


def carbons(path: Path, *xyz: tuple[float, float, float]) -> Path:
    return write_pdb(path, [("HETATM", "C", "CA", x, y, z, "C") for x, y, z in xyz])


def peaks(volume: np.ndarray, n: int) -> list[tuple[int, int, int]]:
    """Indices [z, y, x] of the n highest local maxima."""
    is_max = (volume == ndimage.maximum_filter(volume, size=3)) & (volume > 0)
    idx = np.argwhere(is_max)
    order = np.argsort(volume[is_max])[::-1][:n]
    return sorted(tuple(int(v) for v in idx[i]) for i in order)


def f0(atoms: AtomicModel) -> float:
    """Summed zero-angle scattering of the atoms (occupancy-weighted)."""
    return sum(sum(gemmi.Element(e).c4322.get_coefs()[:5]) * o for e, o in zip(atoms.elements, atoms.occupancy))


# --------------------------------------------------------------------------- axes and handedness

def test_plus_x_moves_along_the_last_axis(tmp_path: Path) -> None:
    path = carbons(tmp_path / "x.pdb", (10.0, 10.0, 10.0), (18.0, 10.0, 10.0))
    vol = model_to_map(path, 1.0, 32, center=False)
    assert vol.shape == (32, 32, 32) and vol.dtype == np.float32
    assert peaks(vol, 2) == [(10, 10, 10), (10, 10, 18)]
    centred = model_to_map(path, 1.0, 32)  # centroid (14, 10, 10) -> voxel 16
    assert peaks(centred, 2) == [(16, 16, 12), (16, 16, 20)]


@pytest.mark.parametrize("center", [False, True])
def test_handedness_is_kept(tmp_path: Path, center: bool) -> None:
    o = np.array([10.0, 10.0, 10.0])
    steps = np.diag([8.0, 12.0, 16.0])  # centroid offset (2, 3, 4): every atom stays on a voxel centre
    path = carbons(tmp_path / "xyz.pdb", tuple(o), *(tuple(o + d) for d in steps))
    vol = model_to_map(path, 1.0, 40, center=center)
    found = np.array(peaks(vol, 4))[:, ::-1]  # as (x, y, z)
    origin = found[found.sum(axis=1).argmin()]
    vectors = {tuple(v) for v in (found - origin).tolist()} - {(0, 0, 0)}
    assert vectors == {(8, 0, 0), (0, 12, 0), (0, 0, 16)}  # x -> last axis, y -> middle, z -> first
    x, y, z = (np.array(v) for v in sorted(vectors, reverse=True))
    assert np.linalg.det(np.stack([x, y, z])) > 0  # right-handed, not mirrored


@pytest.mark.parametrize("box", [33, 34])
def test_centre_of_density_sits_at_box_over_two(tmp_path: Path, box: int) -> None:
    path = write_pdb(tmp_path / "tiny.pdb", TINY)
    for resolution, tolerance in [(None, 0.05), (2.0, 0.002)]:  # voxel-sized Gaussians round a little
        vol = model_to_map(path, 0.7, box, hydrogens=True, waters=True, resolution=resolution)
        centroid = np.array(ndimage.center_of_mass(vol.astype(np.float64)))
        np.testing.assert_allclose(centroid, box // 2, atol=tolerance)


# --------------------------------------------------------------------------- density values

def test_single_atom_matches_gemmi_density() -> None:
    atom = AtomicModel(np.zeros((1, 3)), np.array(["C"]), np.ones(1))
    apix, box, res = 0.1, 64, 2.0
    vol = atoms_to_map(atom, apix, box, resolution=res)
    r = (np.arange(box) - box // 2) * apix
    calc = gemmi.Element("C").c4322.calculate_density_iso
    expected = np.array([calc(float(x * x), 4 * res**2) for x in r])  # the line through the atom along x
    np.testing.assert_allclose(vol[box // 2, box // 2], expected, rtol=0.01)  # voxel mean vs point value


def test_total_density_is_the_summed_scattering(tmp_path: Path) -> None:
    atoms = load_model(write_pdb(tmp_path / "tiny.pdb", TINY), hydrogens=True, waters=True)
    for apix, res in [(0.5, None), (1.5, None), (1.0, 3.0)]:
        vol = atoms_to_map(atoms, apix, 48, resolution=res)
        assert vol.sum(dtype=np.float64) * apix**3 == pytest.approx(f0(atoms), rel=1e-3)


def test_resolution_blurs_by_the_stated_gaussian() -> None:
    atom = AtomicModel(np.zeros((1, 3)), np.array(["O"]), np.ones(1))
    apix, box = 0.5, 96
    x = (np.arange(box) - box // 2) * apix

    def variance(vol: np.ndarray) -> float:
        profile = vol.sum(axis=(0, 1), dtype=np.float64)  # marginal along x
        return float((profile * x**2).sum() / profile.sum())

    sharp, blurred = atoms_to_map(atom, apix, box), atoms_to_map(atom, apix, box, resolution=8.0)
    added = variance(blurred) - variance(sharp)
    assert added == pytest.approx(8.0**2 / (2 * math.pi**2), rel=0.01)  # B = 4 d^2 -> sigma^2 = d^2 / (2 pi^2)


def test_occupancy_weights_the_density() -> None:
    xyz = np.array([[0.0, 0.0, 0.0]])
    full = atoms_to_map(AtomicModel(xyz, np.array(["S"]), np.ones(1)), 1.0, 16)
    half = atoms_to_map(AtomicModel(xyz, np.array(["S"]), np.full(1, 0.5)), 1.0, 16)
    np.testing.assert_allclose(half, full / 2, rtol=1e-6)


def test_no_atoms_give_an_empty_map() -> None:
    empty = AtomicModel(np.zeros((0, 3)), np.array([], dtype=str), np.zeros(0))
    vol = atoms_to_map(empty, 3.0, 16, resolution=6.0)
    assert vol.shape == (16, 16, 16) and vol.dtype == np.float32 and not vol.any()


# --------------------------------------------------------------------------- loading and errors

@pytest.mark.parametrize("hydrogens, waters, ligands, count", [
    (False, False, True, 6), (True, False, True, 8), (False, True, True, 8), (False, False, False, 5),
    (True, True, True, 10), (True, True, False, 9),
])
def test_flags_select_atoms(tmp_path: Path, hydrogens: bool, waters: bool, ligands: bool, count: int) -> None:
    path = write_pdb(tmp_path / "tiny.pdb", TINY)
    assert len(load_model(path, hydrogens=hydrogens, waters=waters, ligands=ligands)) == count


def test_gzipped_and_mmcif_read_the_same(tmp_path: Path) -> None:
    pdb = write_pdb(tmp_path / "tiny.pdb", TINY)
    gz = tmp_path / "tiny.ent.gz"
    gz.write_bytes(gzip.compress(pdb.read_bytes()))
    st = gemmi.read_structure(str(pdb))
    st.setup_entities()
    cif = tmp_path / "tiny.cif"
    st.make_mmcif_document().write_file(str(cif))
    reference = load_model(pdb, waters=True)
    for other in (gz, cif):
        atoms = load_model(other, waters=True)
        np.testing.assert_allclose(atoms.xyz, reference.xyz)
        assert list(atoms.elements) == list(reference.elements)


def test_only_the_first_model_is_read(tmp_path: Path) -> None:
    path = tmp_path / "two.pdb"
    one = write_pdb(tmp_path / "one.pdb", TINY[:3]).read_text().replace("END\n", "")
    path.write_text(f"MODEL        1\n{one}ENDMDL\nMODEL        2\n{one}{one}ENDMDL\nEND\n")
    assert len(load_model(path)) == 3


@pytest.mark.parametrize("name, content, message", [
    ("missing.pdb", None, "no such file"),
    ("junk.cif", "hello world\n", "not a readable atomic model"),
    ("junk.cif.gz", "not gzip", "not a readable atomic model"),
    ("empty.pdb", "", "no atoms"),
    ("text.pdb", "just some words\n", "no atoms"),
])
def test_bad_files_name_the_file(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        model_to_map(path, 1.0, 16)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_no_atoms_left_after_filtering(tmp_path: Path) -> None:
    path = write_pdb(tmp_path / "w.pdb", TINY[-2:])
    with pytest.raises(InputError, match="no atoms left"):
        load_model(path)


@pytest.mark.parametrize("apix, box, resolution", [(0, 16, None), (-1, 16, None), (math.nan, 16, None),
                                                   (1, 0, None), (1, 8.5, None), (1, 16, 0.0)])
def test_bad_parameters(tmp_path: Path, apix: float, box: int, resolution: float | None) -> None:
    path = write_pdb(tmp_path / "tiny.pdb", TINY)
    with pytest.raises(InputError, match=str(path)):
        model_to_map(path, apix, box, resolution=resolution)


def test_too_small_box_says_the_size_needed(tmp_path: Path) -> None:
    path = carbons(tmp_path / "long.pdb", (0.0, 0.0, 0.0), (30.0, 0.0, 0.0))
    with pytest.raises(InputError, match=r"at least \d+") as info:
        model_to_map(path, 2.0, 8)
    need = int(str(info.value).rsplit("at least ", 1)[1])
    assert model_to_map(path, 2.0, need).shape == (need,) * 3
    with pytest.raises(InputError):
        model_to_map(path, 2.0, need - 1)
    with pytest.raises(InputError, match="starts at 0"):
        model_to_map(carbons(tmp_path / "neg.pdb", (-5.0, 1.0, 1.0)), 1.0, 16, center=False)



def test_suggested_box_holds_the_model(tmp_path: Path) -> None:
    path = carbons(tmp_path / "long.pdb", (0.0, 0.0, 0.0), (30.0, 0.0, 0.0))  # needs at least 17 at 2 A/px
    assert suggested_box(path, 2.0, padding=1.0) == 18
    assert suggested_box(path, 2.0) == 22  # 1.25 * 17 -> 21.25 -> even
    model_to_map(path, 2.0, suggested_box(path, 2.0))

# --------------------------------------------------------------------------- real models

def real(name: str) -> Path:
    path = STRUCTURES / name
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path


@pytest.mark.parametrize("name, polymer, ligand, water", [
    ("5a1a.cif.gz", 32824, 96, 776), ("1WCM.pdb", 30936, 9, 0),
    ("1WCM_map_fitted.pdb", 30936, 9, 0), ("1aon.pdb.gz", 58674, 196, 0),
])
def test_real_models_load_and_flags_count(name: str, polymer: int, ligand: int, water: int) -> None:
    path = real(name)
    assert len(load_model(path)) == polymer + ligand
    assert len(load_model(path, ligands=False)) == polymer
    assert len(load_model(path, waters=True)) == polymer + ligand + water
    assert len(load_model(path, hydrogens=True)) == polymer + ligand  # none of them has hydrogens


def test_real_density_scales_with_atoms() -> None:
    path = real("5a1a.cif.gz")
    dry, wet = load_model(path, ligands=False), load_model(path, waters=True)
    totals = [atoms_to_map(a, 4.0, 64).sum(dtype=np.float64) * 4.0**3 for a in (dry, wet)]
    assert totals[0] == pytest.approx(f0(dry), rel=1e-3) and totals[1] == pytest.approx(f0(wet), rel=1e-3)
    assert totals[1] / totals[0] == pytest.approx(len(wet) / len(dry), rel=0.01)


def test_betagal_map() -> None:
    """The whole of beta-galactosidase in a 128 px box (how fast: ``benchmarks/bench_sim.py``)."""
    path = real("5a1a.cif.gz")
    vol = model_to_map(path, 2.0, 128)
    assert vol.shape == (128, 128, 128) and np.isfinite(vol).all()
    assert vol.sum(dtype=np.float64) * 2.0**3 == pytest.approx(f0(load_model(path)), rel=0.02)  # none cut off


def test_fitted_polii_matches_emd1883() -> None:
    """The fitted model, placed by its coordinates, correlates with the map it was fitted into."""
    path, emd_path = real("1WCM_map_fitted.pdb"), DATA / "maps" / "rnapolII_emd1883.mrc"
    with mrcfile.open(emd_path) as mrc:
        emd = mrc.data.astype(np.float64)  # (70, 70, 70) [z, y, x], mapc/mapr/maps = 1, 2, 3
        apix = float(mrc.voxel_size.x)
        start = np.array([mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart], np.float64)
        origin = np.array([mrc.header.origin[k] for k in "xyz"], np.float64)
    atoms = load_model(path)
    shift = origin + start * apix  # coordinate of voxel 0 (zero for this map)
    placed = AtomicModel(atoms.xyz - shift, atoms.elements, atoms.occupancy, path)
    vol = atoms_to_map(placed, apix, emd.shape[0], resolution=20.0, center=False)

    def cc(a: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), emd.ravel())[0, 1])

    assert cc(vol) > 0.78  # 0.813 measured
    for axis in range(3):  # shifting by one voxel either way makes it worse: no off-by-one
        assert cc(np.roll(vol, 1, axis)) < cc(vol) and cc(np.roll(vol, -1, axis)) < cc(vol)
    centre = placed.xyz.mean(axis=0)
    mirrored = AtomicModel(placed.xyz * [-1, 1, 1] + [2 * centre[0], 0, 0], atoms.elements, atoms.occupancy)
    assert cc(atoms_to_map(mirrored, apix, emd.shape[0], resolution=20.0, center=False)) < 0.6  # 0.485


def test_a_model_whose_occupancies_are_all_zero_is_taken_at_full_occupancy(tmp_path) -> None:
    from gan_viewer.sim.atomic import atoms_to_map, load_model

    lines = [f"ATOM  {i + 1:5d}  CA  ALA A{i + 1:4d}    {3.8 * i:8.3f}{0.0:8.3f}{0.0:8.3f}  0.00  0.00           C"
             for i in range(5)]
    path = tmp_path / "md.pdb"
    path.write_text("\n".join(lines + ["END"]) + "\n")
    atoms = load_model(path)  # an MD snapshot: 0.00 in every occupancy field
    assert np.all(atoms.occupancy == 1.0)
    volume = atoms_to_map(atoms, 2.0, 24)
    assert np.isfinite(volume).all() and volume.sum() > 0
