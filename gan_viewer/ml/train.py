"""The training loop: steps or a time budget, held-out validation, checkpoints, figures.

Writes, for an output name ``OUT``:

* ``OUT.safetensors`` + ``OUT.json``: the generator (float16) and its model card;
* ``OUT.train.pt``: the resumable state (both networks, optimiser moments, step, history);
* ``OUT_examples.png``: validation examples, noisy | recovered | truth;
* ``OUT_curves.png``: losses and validation PSNR / CC against the step.

A caller that is not a terminal (the inspector) follows the run through ``progress`` (one
:class:`TrainingProgress` per step) and stops it with ``should_stop``: the run then ends after the
current step with its checkpoint written (:class:`TrainingStopped`), and ``resume=True`` goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gan_viewer import __version__
from gan_viewer.core.figures import save_figure, save_panel
from gan_viewer.core.metrics import circular_mask, correlation, psnr
from gan_viewer.errors import InputError
from gan_viewer.ml.batches import TrainingBatches
from gan_viewer.ml.checkpoint import load_training_state, output_file, save_generator, save_training_state
from gan_viewer.ml.data import fixed_batch
from gan_viewer.ml.networks import DiscriminatorConfig, GeneratorConfig
from gan_viewer.ml.pix2pix import Pix2Pix, TrainConfig

log = logging.getLogger(__name__)

#: model card format: 2 = RELION-normalised input, target in the input's noise units
FORMAT_VERSION = 2
INPUT_NORMALISATION = ("resampled to the model's pixel size, then RELION's normalisation: the background "
                       "outside a circle of 75 % of the box has mean 0 and standard deviation 1")
OUTPUT_UNITS = "the particle without noise or CTF, in standard deviations of the input's background noise"


@dataclass
class RunSpec:
    """How long and how often.

    Attributes
    ----------
    steps
        Stop after this many steps (counting resumed ones), or None.
    minutes
        Stop after this much wall time in this run, or None. One of the two must be given.
    validate_every
        Steps between validations (and checkpoints).
    n_validation
        Held-out pairs used for validation.
    seed
        Seeds torch and the pair sampler.
    extra_card
        Entries added to the model card (``name``: the model's name).
    total_minutes
        With ``minutes``: the budget covers the whole training, resumed runs included (the time
        already spent is kept in the checkpoint), instead of this run alone.
    workers
        Processes that draw training batches in parallel (:class:`~gan_viewer.ml.batches.TrainingBatches`);
        0 draws them in the training process.
    """

    steps: int | None = None
    minutes: float | None = None
    validate_every: int = 200
    n_validation: int = 64
    seed: int = 0
    extra_card: dict = field(default_factory=dict)
    total_minutes: bool = False
    workers: int = 0


@dataclass(frozen=True)
class TrainingProgress:
    """Where a run is, reported after every step.

    Attributes
    ----------
    step
        Steps done (resumed ones included).
    steps
        The step to stop at, or None (a time budget).
    seconds, budget_seconds
        Training time so far (resumed runs included when the budget covers them) and the time
        budget, or None.
    losses
        The step's losses ("D", "G_gan", "G_L1").
    validation
        At validation steps: "psnr", "cc", "mse" and "input_psnr" (dB) on the held-out pairs;
        else None.
    phase
        "training", or what follows it (e.g. "checking": the final checks of a caller).
    """

    step: int
    steps: int | None
    seconds: float
    budget_seconds: float | None
    losses: dict
    validation: dict | None = None
    phase: str = "training"

    @property
    def fraction(self) -> float:
        """How far the run is, 0 to 1 (the nearer of the step and time goals)."""
        parts = [self.step / self.steps] if self.steps else []
        if self.budget_seconds:
            parts.append(self.seconds / self.budget_seconds)
        return min(1.0, max(parts)) if parts else 0.0


class TrainingStopped(Exception):
    """The run was asked to stop; its checkpoint (``checkpoint``) holds step ``step``."""

    def __init__(self, step: int, checkpoint: Path) -> None:
        super().__init__(f"training stopped at step {step}; resume from {checkpoint}")
        self.step, self.checkpoint = step, checkpoint


def check_run(out: Path, run: RunSpec, boxes=(), multiple: int = 1, *, resume: bool, overwrite: bool) -> None:
    """InputError unless the run can start: a duration, a folder, no model or unfinished run to
    replace unasked, a checkpoint to resume from, boxes the U-Net takes (multiples of ``multiple``)."""
    if run.steps is None and run.minutes is None:
        raise InputError("say how long to train: steps or minutes")
    if (run.steps is not None and run.steps < 1) or (run.minutes is not None and not run.minutes > 0):
        raise InputError("steps and minutes must be positive")
    if not out.parent.resolve().is_dir():
        raise InputError("folder does not exist", out.parent)
    if output_file(out, ".safetensors").exists() and not (overwrite or resume):
        raise InputError("exists already; replace it (--force) or continue it (--resume)",
                         output_file(out, ".safetensors"))
    checkpoint = output_file(out, ".train.pt")
    if checkpoint.exists() and not (overwrite or resume):
        raise InputError("holds an unfinished run; continue it (--resume) or replace it (--force)", checkpoint)
    if resume and not checkpoint.is_file():
        raise InputError("no training state to resume from", checkpoint)
    for box in boxes:
        if box % multiple:
            raise InputError(f"box {box} is not a multiple of {multiple} (2**depth); choose another box or depth")


def train(train_source, val_source, out: Path, generator: GeneratorConfig, discriminator: DiscriminatorConfig,
          training: TrainConfig, run: RunSpec, *, device: torch.device, resume: bool = False, overwrite: bool = False,
          progress: Callable[[TrainingProgress], None] | None = None,
          should_stop: Callable[[], bool] | None = None, initial_generator: dict | None = None) -> dict:
    """Train and write the outputs; returns the model card.

    Parameters
    ----------
    train_source, val_source
        Pair sources (:mod:`gan_viewer.ml.data`): ``sample(n, rng)`` and ``describe()``.
    out
        The output name without suffix: the files are ``out`` + ``.safetensors`` and so on (see
        :func:`~gan_viewer.ml.checkpoint.output_stem`).
    generator, discriminator, training, run
        Configs.
    device
        Torch device.
    resume
        Continue from ``out.train.pt``.
    overwrite
        Replace an existing model of that name (else InputError, as for a run without a duration,
        a missing folder or a box the U-Net cannot take: checked before any work).
    progress
        Called after every step with a :class:`TrainingProgress`.
    should_stop
        Asked before every step; when it says True the run writes its checkpoint and raises
        :class:`TrainingStopped` (no model file is written: ``resume=True`` continues).
    initial_generator
        A state dict the generator starts from (a fine-tune; ignored when resuming, whose
        checkpoint holds the generator).
    """
    check_run(Path(out), run, getattr(train_source, "boxes", (train_source.box,)), generator.multiple,
              resume=resume, overwrite=overwrite)
    torch.manual_seed(run.seed)
    model = Pix2Pix(generator, discriminator, training, device)
    if initial_generator is not None and not resume:
        model.G.load_state_dict(initial_generator)
    history: dict[str, list] = {"step": [], "D": [], "G_gan": [], "G_L1": [], "val_step": [], "val_psnr": [],
                                "val_cc": [], "val_input_psnr": []}
    seed_words = [run.seed, 7]
    spent = 0.0  # seconds of earlier runs that count against the budget
    if resume:
        state = load_training_state(output_file(out, ".train.pt"))
        model.load_state(state)
        history = {k: list(v) for k, v in state["history"].items()}
        seed_words = [run.seed, 7, model.step_count]
        spent = float(state.get("seconds", 0.0)) if run.total_minutes else 0.0
        log.info("resumed at step %d", model.step_count)
    # the workers fork before this process simulates anything (ml/batches.py)
    with TrainingBatches(train_source, training.batch_size, seed_words, run.workers) as batches:
        val_noisy, val_clean = fixed_batch(val_source, run.n_validation, run.seed)
        mask = circular_mask(val_clean.shape[-1])
        with np.errstate(invalid="ignore", divide="ignore"):
            input_psnr = finite_mean(psnr(val_noisy, val_clean, mask))
        start = time.monotonic()
        budget = None if run.minutes is None else 60 * run.minutes
        deadline = None if budget is None else start + budget - spent
        seconds = lambda: spent + time.monotonic() - start  # noqa: E731
        total = run.steps if run.steps is not None else None
        bar = tqdm(total=total, initial=model.step_count, unit="step", dynamic_ncols=True, disable=None)
        metrics: dict = {}
        while not _done(model.step_count, run.steps, deadline):
            if should_stop is not None and should_stop():
                bar.close()
                _checkpoint(model, history, out, seconds())
                log.info("stopped at step %d; checkpoint %s", model.step_count, output_file(out, ".train.pt"))
                raise TrainingStopped(model.step_count, output_file(out, ".train.pt"))
            noisy, clean = next(batches)
            losses = model.step(_tensor(noisy, device), _tensor(clean, device))
            for k, v in losses.items():
                history[k].append(v)
            history["step"].append(model.step_count)
            bar.update(1)
            validation = None
            if model.step_count % run.validate_every == 0 or _done(model.step_count, run.steps, deadline):
                metrics = _validate(model, val_noisy, val_clean, mask, device)
                validation = dict(metrics, input_psnr=input_psnr)
                history["val_step"].append(model.step_count)
                history["val_psnr"].append(metrics["psnr"])
                history["val_cc"].append(metrics["cc"])
                history["val_input_psnr"].append(input_psnr)
                bar.set_postfix(L1=f"{losses['G_L1']:.3f}", val_psnr=f"{metrics['psnr']:.2f}",
                                gain=f"{metrics['psnr'] - input_psnr:+.2f} dB")
                log.info("step %d: L1 %.4f, validation PSNR %.2f dB (input %.2f), CC %.3f", model.step_count,
                         losses["G_L1"], metrics["psnr"], input_psnr, metrics["cc"])
                _checkpoint(model, history, out, seconds())
            if progress is not None:
                progress(TrainingProgress(model.step_count, run.steps, seconds(), budget, losses, validation))
    bar.close()
    metrics = _validate(model, val_noisy, val_clean, mask, device)
    card = _card(model, train_source, val_source, metrics, input_psnr, run)
    save_generator(output_file(out, ".safetensors"), model.G, card)
    _checkpoint(model, history, out, seconds())
    _figures(model, val_noisy, val_clean, history, out, device)
    log.info("step %d: validation PSNR %.2f dB (input %.2f dB), CC %.3f -> %s", model.step_count,
             metrics["psnr"], input_psnr, metrics["cc"], output_file(out, ".safetensors"))
    return card


def _done(step: int, steps: int | None, deadline: float | None) -> bool:
    return (steps is not None and step >= steps) or (deadline is not None and time.monotonic() >= deadline)


def _tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images))[:, None].to(device, non_blocking=True)


def _predict(model: Pix2Pix, noisy: np.ndarray, device: torch.device) -> np.ndarray:
    out = [model.predict(_tensor(noisy[i:i + 32], device))[:, 0].float().cpu().numpy()
           for i in range(0, len(noisy), 32)]
    return np.concatenate(out)


def _validate(model: Pix2Pix, noisy: np.ndarray, clean: np.ndarray, mask: np.ndarray, device) -> dict:
    """PSNR and CC (after per-image normalisation; flat targets left out) and the mean squared
    error in the target's units (all pairs)."""
    pred = _predict(model, noisy, device)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"psnr": finite_mean(psnr(pred, clean, mask)), "cc": finite_mean(correlation(pred, clean, mask)),
                "mse": float(np.mean((pred - clean)[:, mask] ** 2))}


def finite_mean(values: np.ndarray) -> float:
    """Mean of the finite values (a flat target gives an infinite PSNR and a NaN CC)."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _checkpoint(model: Pix2Pix, history: dict, out: Path, seconds: float) -> None:
    save_training_state(output_file(out, ".train.pt"), dict(model.state(), history=history, seconds=seconds))


def _card(model: Pix2Pix, train_source, val_source, metrics: dict, input_psnr: float, run: RunSpec) -> dict:
    data = train_source.describe()
    return {
        "format_version": FORMAT_VERSION,
        "name": Path(str(run.extra_card.get("name", "generator"))).name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "gan_viewer_version": __version__,
        "torch_version": torch.__version__,
        "pixel_size": data.get("apix"),
        "box": data.get("box"),
        "boxes": data.get("boxes") or [data.get("box")] * 2,
        "snr": data.get("snr") or (data.get("recipe") or {}).get("snr"),
        "normalisation": INPUT_NORMALISATION,
        "output_units": OUTPUT_UNITS,
        # the denoiser takes the same share of the noise's colour away as training did
        **({"input_whitening": data["input_whitening"]} if data.get("input_whitening") else {}),
        "training": {"data": data, "steps": model.step_count, "seed": run.seed,
                     **{k: v.to_dict() for k, v in model.configs.items() if k != "generator"}},
        "validation": {"data": val_source.describe(), "n": run.n_validation, "psnr_db": metrics["psnr"],
                       "cc": metrics["cc"], "mse": metrics["mse"], "input_psnr_db": input_psnr,
                       "metric": "mean over held-out pairs, inside a circular mask, after per-image normalisation"},
        **{k: v for k, v in run.extra_card.items() if k != "name"},
    }


def _figures(model: Pix2Pix, noisy: np.ndarray, clean: np.ndarray, history: dict, out: Path, device) -> None:
    pred = _predict(model, noisy[:6], device)
    rows = [[noisy[i], pred[i], clean[i]] for i in range(len(pred))]
    save_panel(rows, f"{out}_examples.png", column_titles=["noisy", "recovered", "truth"],
               title=f"validation examples, step {model.step_count}")
    save_curves(history, Path(f"{out}_curves.png"))


def save_curves(history: dict, path: Path) -> None:
    """Losses (smoothed) and validation PSNR against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(9, 3.2))
    steps = np.asarray(history["step"])
    for key, label in (("G_L1", "generator L1"), ("G_gan", "generator GAN"), ("D", "discriminator")):
        values = np.asarray(history[key])
        if values.size:
            k = max(1, values.size // 100)
            smooth = np.convolve(values, np.ones(k) / k, mode="valid")
            ax_loss.plot(steps[k - 1:], smooth, label=label)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_title("training losses")
    ax_loss.legend(fontsize=8)
    ax_val.plot(history["val_step"], history["val_psnr"], "o-", label="recovered")
    ax_val.plot(history["val_step"], history["val_input_psnr"], "--", label="noisy input")
    ax_val.set_xlabel("step")
    ax_val.set_ylabel("PSNR (dB)")
    ax_val.set_title("validation")
    ax_val.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
