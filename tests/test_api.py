"""``gan_viewer.api``: the README's "Use from Python" example, run as written, and each verb
against the command or module it stands for."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from gan_viewer import api
from gan_viewer.errors import InputError

from tests.conftest import blob_volume

ROOT = Path(__file__).resolve().parents[1]
VERBS = ("open_particles", "project", "score", "denoise", "simulate", "train", "evaluate", "export")


def readme_example() -> str:
    """The first Python block of the README's "Use from Python" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use from Python", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def write_map(path: Path, apix: float = 3.0) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(blob_volume(32))
        mrc.voxel_size = apix
    return path


@pytest.fixture
def folder(tmp_path: Path, monkeypatch) -> Path:
    """An empty working folder holding ``map.mrc`` (32 px at 3 A/px), the README's starting point."""
    monkeypatch.chdir(tmp_path)
    write_map(tmp_path / "map.mrc")
    return tmp_path


def test_readme_example_runs(folder: Path, capsys) -> None:
    code = readme_example()
    assert "api.simulate" in code and "api.denoise" in code and "api.train" in code
    exec(compile(code, "README.md (Use from Python)", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "8 32 3.0"
    assert "prediction" in out and "Wiener (oracle)" in out
    for name in ("sim/particles.star", "kept.star", "rejected.star", "mine.safetensors", "mine.json"):
        assert (folder / name).is_file(), name


def test_import_is_light_and_names_resolve() -> None:
    code = "import sys, gan_viewer.api; print('torch' in sys.modules, 'PyQt6' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.split() == ["False", "False"], result.stderr[-2000:]
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    with pytest.raises(AttributeError):
        api.no_such_verb  # noqa: B018


@pytest.mark.parametrize("verb", VERBS)
def test_verbs_are_documented(verb: str) -> None:
    doc = inspect.getdoc(getattr(api, verb))
    assert verb in api.__all__
    assert "Returns\n-------" in doc
    if verb != "train":  # its one parameter is the documented TrainingConfig
        assert "Parameters\n----------" in doc
        for name in inspect.signature(getattr(api, verb)).parameters:
            assert name in doc, f"{verb}: parameter {name} is not described"


@pytest.fixture
def simulated(folder: Path) -> Path:
    return api.simulate("map.mrc", 6, 0.1, "sim", box=32, apix=3.0, ctf=True, seed=2)[0]


def test_project_matches_the_command(simulated: Path, folder: Path) -> None:
    from gan_viewer.cli import main

    assert main(["project", "--map", "map.mrc", "--star", str(simulated), "--out", "refs.mrcs", "--ctf"]) == 0
    with mrcfile.open("refs.mrcs") as mrc:
        written = np.asarray(mrc.data)
    everything = api.project("map.mrc", simulated, ctf=True)
    assert everything.shape == (6, 32, 32)
    np.testing.assert_allclose(everything, written, atol=1e-5)
    picked = api.project("map.mrc", api.open_particles(simulated), ctf=True, indices=[4, 1, 4])
    np.testing.assert_array_equal(picked, everything[[4, 1, 4]])
    assert api.project("map.mrc", simulated, out="api_refs.mrcs") == Path("api_refs.mrcs")
    with pytest.raises(InputError, match="exists already"):
        api.project("map.mrc", simulated, out="api_refs.mrcs")


def test_score_matches_the_command(simulated: Path, folder: Path) -> None:
    from gan_viewer.cli import main
    from gan_viewer.io.star import read_star

    assert main(["score", str(simulated), "--map", "map.mrc", "--out", "scored.star"]) == 0
    written = read_star("scored.star").particles
    everything = api.score("map.mrc", simulated)
    assert everything["gvScore"].shape == (6,) and np.isfinite(everything["gvScore"]).all()
    for name in ("gvScore", "gvMatchedZ", "gvMatched", "gvMatchedPlain"):
        np.testing.assert_allclose(everything[name], written[name].to_numpy(float), rtol=1e-5, atol=1e-5)
    picked = api.score("map.mrc", api.open_particles(simulated), indices=[4, 1, 4])
    np.testing.assert_allclose(picked["gvScore"], everything["gvScore"][[4, 1, 4]], rtol=1e-6)
    assert api.score("map.mrc", simulated, out="api_scored.star") == Path("api_scored.star")
    assert "gvScore" in read_star("api_scored.star").columns
    with pytest.raises(InputError, match="exists already"):
        api.score("map.mrc", simulated, out="api_scored.star")


def test_gan_scores_take_their_optics_groups_noise_spectrum_whatever_the_chunks(simulated: Path) -> None:
    from gan_viewer.ml.inference import Denoiser

    denoiser = Denoiser.load(None, "cpu")
    denoiser.input_whitening = 0.5  # takes half of the noise's colour away: needs the set's spectrum
    whole = api.score("map.mrc", simulated, gan=True, model=denoiser)
    chunked = api.score("map.mrc", simulated, gan=True, model=denoiser, chunk=2)
    for name in ("gvAgreement", "gvConfidence"):
        assert np.isfinite(whole[name]).all()
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-4, atol=1e-5)


def test_denoise_files_arrays_and_indices_agree(simulated: Path) -> None:
    from gan_viewer.ml.inference import Denoiser

    particles = api.open_particles(simulated)
    denoiser = Denoiser.load(None, "cpu")
    whole = api.denoise(simulated, model=denoiser, spread=True)
    assert whole.images.shape == whole.spread.shape == (6, 32, 32)
    assert whole.confidence.shape == whole.amplitude.shape == (6,)
    assert np.all((whole.confidence >= 0) & (whole.confidence <= 1))
    some = api.denoise(particles, model=denoiser, spread=True, indices=[5, 0])
    np.testing.assert_allclose(some.images, whole.images[[5, 0]], atol=1e-5)
    np.testing.assert_allclose(some.confidence, whole.confidence[[5, 0]], atol=1e-6)
    # an array is its own set unless it is given the noise spectrum of the set it comes from
    spectrum = denoiser.noise_power(particles.images(range(6)))
    from_array = api.denoise(particles.images([0, 1]), 3.0, model=denoiser, spread=True, noise_power=spectrum)
    np.testing.assert_allclose(from_array.images, whole.images[:2], atol=1e-4)
    assert api.denoise(particles.images([0, 1]), 3.0, model=denoiser).spread is None
    with pytest.raises(ValueError, match="slice the array"):
        api.denoise(particles.images([0, 1]), 3.0, model=denoiser, indices=[0])


def test_evaluate_and_export(simulated: Path, folder: Path) -> None:
    from gan_viewer.core.curation import Label
    from gan_viewer.io.star import read_star

    truth = api.open_particles("sim/clean.mrcs").images(np.arange(6))
    result = api.evaluate("sim/clean.mrcs", "sim/clean.mrcs", "sim/particles.mrcs", out="report")
    assert result.report["methods"]["prediction"]["mean"]["cc"] == pytest.approx(1.0)
    assert (folder / "report.json").is_file() and (folder / "report.png").is_file()
    from_arrays = api.evaluate(truth * 2 + 1, truth)  # scale and offset do not count
    assert from_arrays.report["methods"]["prediction"]["mean"]["cc"] == pytest.approx(1.0)
    labels = np.array([Label.KEEP, Label.REJECT, Label.UNDECIDED, Label.KEEP, Label.REJECT, Label.UNDECIDED])
    done = api.export(simulated, labels, "kept.star", "rest.star", undecided="keep")
    assert (done.kept, done.rejected, done.undecided) == (4, 2, 2)
    assert len(read_star("kept.star")) == 4
    done = api.export(api.open_particles(simulated), np.arange(6) < 2, "two.star")
    assert done.kept == 2 and done.rejected_path is None
    with pytest.raises(InputError, match="exists already"):
        api.export(simulated, labels, "kept.star")


def test_train_takes_a_typed_config(folder: Path) -> None:
    data = api.TrainingData(assemblies=1, snr=(0.1,), boxes=(32,), apix=3.0)  # procedural structures alone
    card = api.train(api.TrainingConfig(out="gen", data=data, steps=2, depth=3, validate_every=2, device="cpu"))
    assert card["training"]["steps"] == 2 and (folder / "gen.safetensors").is_file()
    with pytest.raises(InputError, match="exists already"):
        api.train(api.TrainingConfig(out="gen", data=data, steps=2, depth=3))
    with pytest.raises(InputError, match="how long"):
        api.train(api.TrainingConfig(out="other", data=data))
