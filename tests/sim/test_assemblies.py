"""Procedural assemblies: symmetry, contacts without overlaps, hollow shells, micelles, sizes, masses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from gan_viewer.sim import assemblies as asm
from gan_viewer.sim.atomic import AtomicModel, atoms_to_map
from gan_viewer.sim.membrane import membrane_protein
from gan_viewer.sim.packing import CONTACT, Contacts, group_rotations, model_diameter
from gan_viewer.sim.phantoms import RESIDUE_ATOMS, fill_domain
from gan_viewer.sim.shells import MARGIN, POLYHEDRA, symmetry_axes

PHI = (1 + 5**0.5) / 2
DALTON_PER_RESIDUE = 110.0


def turn(axis: tuple[float, float, float], fold: int) -> np.ndarray:
    """(3, 3) rotation by 2 pi / fold about ``axis``, built here, not taken from the package."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return Rotation.from_rotvec(axis * 2 * np.pi / fold).as_matrix()


def mismatch(xyz: np.ndarray, rotation: np.ndarray) -> float:
    """Largest distance from a rotated atom to the nearest atom of the unrotated set."""
    return float(cKDTree(xyz).query(xyz @ rotation.T)[0].max())


def subunit_gaps(model: AtomicModel, count: int) -> np.ndarray:
    """(count - 1,) closest approach of copy 0's atoms to each other copy's (atoms come copy by copy)."""
    copies = model.xyz.reshape(count, -1, 3)
    tree = cKDTree(copies[0])
    return np.array([tree.query(c)[0].min() for c in copies[1:]])


# (group, copies, elements of the group built independently, a rotation outside the group)
GROUPS = [
    ("C3", 3, [turn((0, 0, 1), 3)], turn((0, 0, 1), 6)),
    ("C7", 7, [turn((0, 0, 1), 7)], turn((0, 0, 1), 14)),
    ("D2", 4, [turn((0, 0, 1), 2), turn((1, 0, 0), 2)], turn((0, 0, 1), 4)),
    ("D5", 10, [turn((0, 0, 1), 5), turn((1, 0, 0), 2)], turn((0, 1, 0), 2)),
    ("T", 12, [turn((1, 1, 1), 3), turn((0, 0, 1), 2)], turn((0, 0, 1), 4)),
    ("O", 24, [turn((0, 0, 1), 4), turn((1, 1, 1), 3), turn((1, 1, 0), 2)], turn((0, 0, 1), 8)),
    ("I", 60, [turn((PHI, 0, 1), 5), turn((1, 1, 1), 3), turn((0, 0, 1), 2)], turn((0, 0, 1), 4)),
]


@pytest.mark.parametrize("group, count, elements, outsider", GROUPS, ids=[g[0] for g in GROUPS])
def test_oligomers_are_symmetric_and_touch_without_overlapping(group, count, elements, outsider) -> None:
    model = asm.point_group_oligomer(np.random.default_rng(11), 120.0, group)
    assert len(model) % count == 0
    for rotation in elements:
        assert mismatch(model.xyz, rotation) < 1e-6
    assert mismatch(model.xyz, outsider) > 1.0  # the test can tell a rotation that is not a symmetry
    gaps = subunit_gaps(model, count)
    closest = CONTACT if group.startswith("C") else 2 * MARGIN  # packed / cut to cells
    assert gaps.min() >= closest - 1e-6  # no overlaps
    assert gaps.min() < closest + 2.0  # and the nearest copies touch


@pytest.mark.parametrize("style, count", [("capsid", 60), ("shell24", 24), ("shell12", 12)])
def test_shell_subunits_do_not_overlap(style: str, count: int) -> None:
    model = asm.shell(np.random.default_rng(4), 200.0, style)
    gaps = subunit_gaps(model, count)
    assert gaps.min() >= 2 * MARGIN - 1e-6 and gaps.min() < 2 * MARGIN + 2.0


@pytest.mark.parametrize("style", ["capsid", "shell24", "shell12", "cage"])
def test_shell_lumen_is_empty(style: str) -> None:
    apix, box = 5.0, 40
    model = asm.shell(np.random.default_rng(2), 150.0, style)
    volume = atoms_to_map(model, apix, box, resolution=2 * apix)
    shell_mean = volume[volume > 0.1 * volume.max()].mean()
    centre = volume[box // 2 - 2:box // 2 + 3, box // 2 - 2:box // 2 + 3, box // 2 - 2:box // 2 + 3]  # 25 A cube
    assert centre.mean() < 0.05 * shell_mean


def test_a_solid_oligomer_is_not_hollow() -> None:
    """The lumen test above can fail: a compact particle has density at its centre."""
    apix, box = 5.0, 40
    volume = atoms_to_map(asm.small_protein(np.random.default_rng(0), 50.0, "single"), apix, box, resolution=10.0)
    centre = volume[box // 2 - 2:box // 2 + 3, box // 2 - 2:box // 2 + 3, box // 2 - 2:box // 2 + 3]
    assert centre.mean() > 0.05 * volume[volume > 0.1 * volume.max()].mean()


@pytest.mark.parametrize("style", ["micelle", "nanodisc"])
def test_detergent_and_lipid_are_fainter_than_protein(style: str) -> None:
    model = membrane_protein(np.random.default_rng(1), 140.0, style)
    lipid = model.occupancy < 1
    assert lipid.any() and (~lipid).any()
    assert set(model.elements[lipid]) == {"C"}
    levels = np.unique(model.occupancy[lipid])
    assert len(levels) == 2 and levels[0] < levels[1]  # hydrophobic core fainter than the head groups
    apix, box = 4.0, 48
    xyz = model.xyz - model.xyz.mean(axis=0) + box // 2 * apix
    volume = atoms_to_map(AtomicModel(xyz, model.elements, model.occupancy), apix, box, resolution=12.0,
                          center=False)  # 12 A: each material's mean density, not its atoms
    at = np.rint(xyz / apix).astype(int)
    density = volume[at[:, 2], at[:, 1], at[:, 0]]
    ratio = np.median(density[lipid]) / np.median(density[~lipid])
    assert 0.25 < ratio < 0.7, ratio


def test_micelle_wraps_the_transmembrane_helices() -> None:
    model = membrane_protein(np.random.default_rng(3), 150.0, "micelle")
    lipid = model.xyz[model.occupancy < 1]
    protein = model.xyz[model.occupancy == 1]
    assert np.abs(lipid[:, 2]).max() < 26.0  # a belt across the membrane slab (35 A)
    radial = np.hypot(lipid[:, 0], lipid[:, 1])
    tm = protein[np.abs(protein[:, 2]) < 10]
    assert radial.max() > np.hypot(tm[:, 0], tm[:, 1]).max() + 10  # around the helices, not inside them
    assert cKDTree(protein).query(lipid)[0].min() >= 4.0 - 1e-6  # and clear of the protein


FAMILY_STYLES = [("oligomer", None), ("shell", "capsid"), ("shell", "cage"), ("ring", "ring"),
                 ("ring", "double_ring"), ("ring", "barrel"), ("filament", "helical"), ("filament", "rod"),
                 ("filament", "chain"), ("flexible", None), ("membrane", "micelle"), ("membrane", "nanodisc")]


@pytest.mark.parametrize("family, style", FAMILY_STYLES, ids=[f"{f}-{s}" for f, s in FAMILY_STYLES])
def test_diameter_is_close_to_the_request(family: str, style: str | None) -> None:
    make = asm.FAMILIES[family][0]
    for seed, diameter in ((0, 130.0), (1, 230.0)):
        rng = np.random.default_rng(seed)
        model = make(rng, diameter) if style is None else make(rng, diameter, style)
        assert abs(model_diameter(model) / diameter - 1) < 0.2, (seed, diameter, model_diameter(model))


def test_small_proteins_are_under_100_kda() -> None:
    for seed in range(12):
        model = asm.small_protein(np.random.default_rng(seed), 300.0)
        residues = len(model) / len(RESIDUE_ATOMS)
        assert residues * DALTON_PER_RESIDUE < 100_000
        assert 20.0 <= model_diameter(model) <= 60.0


def test_empty_gives_a_zero_map() -> None:
    volume, info = asm.assembly_map(np.random.default_rng(0), 3.0, 32, kind="empty")
    assert volume.shape == (32, 32, 32) and volume.dtype == np.float32 and not volume.any()
    assert info["kind"] == "empty" and info["atoms"] == 0


def test_assembly_map_is_centred_and_fits() -> None:
    apix, box = 4.0, 48
    volume, info = asm.assembly_map(np.random.default_rng(5), apix, box, kind="ring")
    assert volume.shape == (box,) * 3 and volume.dtype == np.float32 and volume.min() >= 0
    assert info["kind"] == "ring" and info["resolution"] == 2 * apix
    assert 0.6 * 0.75 * box * apix * 0.8 < info["diameter"] < (box - 4) * apix
    centroid = np.array(ndimage.center_of_mass(volume))
    assert np.abs(centroid - box // 2).max() < 1.0
    assert not volume[[0, -1]].any() and not volume[:, [0, -1]].any() and not volume[..., [0, -1]].any()


def test_a_seed_gives_the_same_assembly() -> None:
    first, kind = asm.random_assembly(np.random.default_rng(7), 150.0)
    again, kind_again = asm.random_assembly(np.random.default_rng(7), 150.0)
    other, _ = asm.random_assembly(np.random.default_rng(8), 150.0, kind=kind)
    assert kind == kind_again
    np.testing.assert_array_equal(first.xyz, again.xyz)
    np.testing.assert_array_equal(first.occupancy, again.occupancy)
    assert len(first) != len(other) or not np.array_equal(first.xyz, other.xyz)


def test_every_family_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = []
    for name, (_, weight) in list(asm.FAMILIES.items()):
        monkeypatch.setitem(asm.FAMILIES, name, (lambda rng, d, name=name: drawn.append(name) or name, weight))
    rng = np.random.default_rng(0)
    kinds = [asm.random_assembly(rng, 100.0)[1] for _ in range(1000)]
    assert kinds == drawn and set(kinds) == set(asm.FAMILIES)
    weights = np.array([w for _, w in asm.FAMILIES.values()])
    counts = np.array([kinds.count(k) for k in asm.FAMILIES])
    np.testing.assert_allclose(counts / 1000, weights / weights.sum(), atol=0.04)


def test_bad_requests() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown assembly kind"):
        asm.random_assembly(rng, 100.0, kind="virus")
    with pytest.raises(ValueError, match="diameter"):
        asm.random_assembly(rng, -5.0, kind="ring")
    with pytest.raises(ValueError, match="not a point group"):
        group_rotations("Q5")


# --------------------------------------------------------------------------- building blocks

@pytest.mark.parametrize("group, order", [("C5", 5), ("D6", 12), ("T", 12), ("O", 24), ("I", 60)])
def test_group_rotations_form_the_group(group: str, order: int) -> None:
    rotations = group_rotations(group)
    assert rotations.shape == (order, 3, 3)
    np.testing.assert_allclose(rotations[0], np.eye(3), atol=1e-12)
    products = np.einsum("aij,bjk->abik", rotations, rotations).reshape(-1, 1, 9)
    distance = np.abs(products - rotations.reshape(1, -1, 9)).sum(axis=2).min(axis=1)
    assert distance.max() < 1e-9  # closed under products


def test_polyhedra_have_their_vertex_counts() -> None:
    vertices = {"icosahedron": 12, "dodecahedron": 20, "icosidodecahedron": 30, "octahedron": 6, "cube": 8,
                "cuboctahedron": 12}
    for (group, fold), name in POLYHEDRA.items():
        assert len(symmetry_axes(group_rotations(group), fold)) == vertices[name], name


def test_clash_test_agrees_with_brute_force() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(-20, 20, (300, 3))
    contacts = Contacts(points, 3.0)
    for _ in range(40):
        rotation = Rotation.random(random_state=rng).as_matrix()
        shift = rng.uniform(-45, 45, 3)
        moved = points @ rotation.T + shift
        brute = np.linalg.norm(moved[:, None] - points[None], axis=2).min() < 3.0
        assert contacts.clash(rotation[None], shift[None]) == brute


def test_side_by_side_walks_fill_their_ellipsoid() -> None:
    semi = np.array([40.0, 25.0, 15.0])
    ca = fill_domain(np.random.default_rng(0), np.array([5.0, 0.0, 0.0]), semi, walks=30)
    expected = 4 / 3 * np.pi * semi.prod() / 130
    assert abs(len(ca) - expected) < 30
    assert np.all(np.sum(((ca - [5.0, 0.0, 0.0]) / semi) ** 2, axis=1) <= 1 + 1e-9)
    steps = np.linalg.norm(np.diff(ca.reshape(30, -1, 3), axis=1), axis=2)  # walk by walk
    assert np.mean(np.isclose(steps, 3.8)) > 0.95
    octants = np.sign(ca - [5.0, 0.0, 0.0]) @ [1, 2, 4]
    assert len(np.unique(octants)) == 8
