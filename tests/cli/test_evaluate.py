"""``gan-viewer evaluate``, in-process, on tiny synthetic stacks."""

from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from gan_viewer.cli import main

from tests.conftest import blob_images


def write(path: Path, images: np.ndarray, apix: float = 2.0) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(images, np.float32))
        mrc.set_image_stack()
        mrc.voxel_size = apix
    return path


@pytest.fixture
def stacks(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    truth = blob_images(12, 32, rng)
    sigma = np.sqrt(truth.reshape(12, -1).var(axis=1) / 0.1)
    noisy = truth + rng.standard_normal(truth.shape) * sigma[:, None, None]
    pred = truth * 5 + 0.2 * sigma.mean() * rng.standard_normal(truth.shape) + 3  # good, other units
    return {"truth": write(tmp_path / "truth.mrcs", truth), "noisy": write(tmp_path / "noisy.mrcs", noisy),
            "pred": write(tmp_path / "pred.mrcs", pred)}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["evaluate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_with_baselines(capsys, stacks: dict[str, Path]) -> None:
    argv = ["--pred", str(stacks["pred"]), "--truth", str(stacks["truth"]), "--noisy", str(stacks["noisy"])]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "low-pass (oracle)" in out and "Wiener (blind)" in out and "prediction" in out
    folder = stacks["pred"].parent
    report = json.loads((folder / "evaluation.json").read_text())
    assert (folder / "evaluation.png").stat().st_size > 10_000
    methods = report["methods"]
    assert list(methods) == ["noisy", "lowpass", "wiener", "wiener_oracle", "prediction"]
    means = {k: v["mean"] for k, v in methods.items()}
    assert means["prediction"]["psnr_db"] > means["lowpass"]["psnr_db"] > means["noisy"]["psnr_db"]
    assert means["prediction"]["cc"] > 0.9 and len(methods["prediction"]["psnr_db"]) == 12
    assert len(methods["noisy"]["frc_mean_curve"]) == len(report["frc_frequencies"]) == 17
    assert report["pixel_size"] == 2.0 and report["frc_frequencies"][-1] == pytest.approx(0.25)
    assert report["best_sigma_px"] > 0 and "--noisy" in report["command"]
    assert report["files"]["truth"] == str(stacks["truth"].resolve())
    code, _, err = run(capsys, *argv)  # refuses to overwrite
    assert code == 2 and "exists already" in err and "evaluation.json" in err
    assert run(capsys, *argv, "--force")[0] == 0


def test_evaluate_prediction_only(capsys, stacks: dict[str, Path], tmp_path: Path) -> None:
    code, out, err = run(capsys, "--pred", str(stacks["pred"]), "--truth", str(stacks["truth"]),
                         "--out", str(tmp_path / "sub"), "--apix", "1.5")
    assert code == 0, err
    report = json.loads((tmp_path / "sub.json").read_text())
    assert list(report["methods"]) == ["prediction"] and report["pixel_size"] == 1.5 and report["best_sigma_px"] is None
    assert (tmp_path / "sub.png").exists()


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".mrcs"))


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
@pytest.mark.parametrize("problem", ["count", "box", "nan", "missing", "no-truth"])
def test_bad_input_writes_nothing(capsys, stacks: dict[str, Path], problem: str) -> None:
    folder = stacks["pred"].parent
    truth = mrcfile.read(stacks["truth"])
    bad = folder / "bad.mrcs"
    if problem == "count":
        write(bad, truth[:5])
    elif problem == "box":
        write(bad, truth[:, :16, :16])
    elif problem == "nan":
        broken = truth.copy()
        broken[3, 4, 5] = np.nan
        write(bad, broken)
    argv = ["--pred", str(bad), "--truth", str(stacks["truth"]), "--noisy", str(stacks["noisy"])]
    if problem == "no-truth":
        argv = ["--pred", str(stacks["pred"])]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1
    if problem != "no-truth":
        assert "bad.mrcs" in err
    assert {"nan": "image 4", "missing": "no such file", "count": "holds 5 images"}.get(problem, "") in err
    assert outputs(folder) == []


def test_hallucination(capsys, monkeypatch, tmp_path: Path) -> None:
    inference = pytest.importorskip("gan_viewer.ml.inference")
    from gan_viewer.io.mrc import write_map

    z, y, x = np.mgrid[:24, :24, :24] - 12
    volume = np.exp(-((x - 3) ** 2 + y ** 2 + (z + 2) ** 2) / 8.0) + np.exp(-((x + 4) ** 2 + (y - 2) ** 2 + z ** 2) / 6.0)
    map_path = write_map(tmp_path / "ref.mrc", volume, 2.0)

    class Fake:
        card = {"box": 24, "pixel_size": 2.0, "training": {"data": {"sources": [str(map_path)]}}}
        name = "fake"

        def __call__(self, images: np.ndarray, apix: float | None = None) -> np.ndarray:
            assert apix == 2.0  # told the pixel size of the noise images
            return images  # an honest (useless) denoiser

    monkeypatch.setattr(inference.Denoiser, "load", classmethod(lambda cls, model=None, device="auto": Fake()))
    code, out, err = run(capsys, "--hallucination", "--n", "16", "--references", "20", "--out", str(tmp_path / "h"))
    assert code == 0, err
    assert "control" in out
    report = json.loads((tmp_path / "h.json").read_text())
    assert report["map"] == str(map_path.resolve()) and report["box"] == 24 and report["references"] == 20
    assert report["power"]["mean_variance_ratio"] == pytest.approx(1)
    assert report["fraction_above_control_p99"] <= 0.2 and (tmp_path / "h.png").exists()
    Fake.card = {"box": 24}
    code, _, err = run(capsys, "--hallucination", "--out", str(tmp_path / "h2"))
    assert code == 2 and "--map" in err and not (tmp_path / "h2.json").exists()
