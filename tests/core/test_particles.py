from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.core.particles import StackParticles, StarParticles, open_particles
from gan_viewer.errors import InputError
from gan_viewer.io.mrc import write_stack
from gan_viewer.io.star import read_star


def test_reads_any_particles_in_any_order(tiny_set: Path) -> None:
    source = open_particles(tiny_set)
    assert len(source) == 10 and source.box == 16 and source.pixel_size == 2.0
    images = source.images([9, 0, 7, 3, 3])
    assert images.shape == (5, 16, 16) and images.dtype == np.float32
    np.testing.assert_array_equal(images[:, 0, 0], [10, 1, 8, 4, 4])
    assert source.metadata(2)["rlnImageName"] == "000003@Extract/a.mrcs"


def test_names_resolve_from_a_parent_folder(tiny_set: Path) -> None:
    job = tiny_set.parent / "Select" / "job005"
    job.mkdir(parents=True)
    moved = shutil.copy(tiny_set, job / "particles.star")
    source = open_particles(moved)
    assert source.missing_stacks == []
    assert source.images([6])[0, 0, 0] == 7


def test_project_dir_option(tiny_set: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    moved = shutil.copy(tiny_set, elsewhere / "p.star")
    (tmp_path / "Extract").rename(tmp_path / "proj_Extract")
    (tmp_path / "project").mkdir()
    (tmp_path / "proj_Extract").rename(tmp_path / "project" / "Extract")
    assert open_particles(moved).missing_stacks == ["Extract/a.mrcs", "Extract/b.mrcs"]
    source = open_particles(moved, project_dir=tmp_path / "project")
    assert source.images([1])[0, 0, 0] == 2


def test_missing_stack_named(tiny_set: Path) -> None:
    (tiny_set.parent / "Extract" / "b.mrcs").unlink()
    source = open_particles(tiny_set)
    assert source.missing_stacks == ["Extract/b.mrcs"]
    assert source.images([0]).shape == (1, 16, 16)
    with pytest.raises(InputError, match="Extract/b.mrcs"):
        source.images([8])


def test_index_beyond_stack(tiny_set: Path) -> None:
    text = tiny_set.read_text().replace("000004@Extract/b.mrcs", "000009@Extract/b.mrcs")
    tiny_set.write_text(text)
    with pytest.raises(InputError, match="image 9 requested but the stack holds 4"):
        open_particles(tiny_set).images([9])


def test_out_of_range_particle(tiny_set: Path) -> None:
    with pytest.raises(InputError, match="particle 11 requested but there are 10"):
        open_particles(tiny_set).images([10])


def test_nan_images_are_reported(tmp_path: Path) -> None:
    images = np.zeros((3, 8, 8), np.float32)
    images[1, 2, 2] = np.nan
    source = StackParticles(write_stack(tmp_path / "n.mrcs", images))
    with pytest.raises(InputError, match="particle 2 contains NaN"):
        source.images([0, 1])
    assert np.isnan(source.images([1], check_finite=False)).any()


def test_bare_stack(tmp_path: Path) -> None:
    source = open_particles(write_stack(tmp_path / "s.mrcs", np.arange(2 * 9 * 9).reshape(2, 9, 9), 1.2))
    assert isinstance(source, StackParticles)
    assert len(source) == 2 and source.box == 9 and source.pixel_size == pytest.approx(1.2)


def test_non_square_stack(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="square"):
        open_particles(write_stack(tmp_path / "s.mrcs", np.zeros((2, 8, 9))))


def test_wrong_box_in_second_stack(tiny_set: Path) -> None:
    write_stack(tiny_set.parent / "Extract" / "b.mrcs", np.zeros((4, 12, 12)), overwrite=True)
    with pytest.raises(InputError, match="expected 16 px"):
        open_particles(tiny_set).images([7])


def test_real_relion31(shared_data: Path) -> None:
    source = open_particles(shared_data / "particles/real_relion31/relion31.star")
    images = source.images(np.arange(5))
    assert images.shape == (5, 256, 256) and np.isfinite(images).all()
    assert images.std(axis=(1, 2)).min() > 0


def test_real_relion30_with_header_pixel_size_fallback(shared_data: Path) -> None:
    source = open_particles(shared_data / "particles/relion_projections_70S/rln_proj_65.star")
    assert isinstance(source, StarParticles)
    assert source.box == 65 and len(source) == 5
    np.testing.assert_array_equal(source.origins_px(), 0)


def test_real_aspire_two_layouts_agree(shared_data: Path) -> None:
    a = open_particles(shared_data / "particles/real_aspire_sample/sample_particles_relion30.star")
    b = open_particles(shared_data / "particles/real_aspire_sample/sample_particles_relion31.star")
    np.testing.assert_array_equal(a.images([0, 16]), b.images([0, 16]))
    assert read_star(b.path).optics_block == "optics"


def test_noise_groups_are_optics_groups_at_each_pixel_size(tiny_set: Path, tmp_path: Path) -> None:
    from gan_viewer.core.particles import noise_groups, pixel_sizes

    stack = write_stack(tmp_path / "s.mrcs", np.zeros((4, 8, 8), np.float32), 1.5)
    np.testing.assert_array_equal(noise_groups(StackParticles(stack), None), np.zeros(4))
    star = StarParticles.from_file(tiny_set)  # one optics group
    np.testing.assert_array_equal(noise_groups(star, pixel_sizes(star)), np.zeros(10))
    star.table.particles["rlnOpticsGroup"] = [1, 2] * 5  # a second optics group
    apix = np.where(np.arange(10) < 6, 2.0, 3.0)  # and a second pixel size, as per-row sizes allow
    np.testing.assert_array_equal(noise_groups(star, apix), [0, 1, 0, 1, 0, 1, 2, 3, 2, 3])
