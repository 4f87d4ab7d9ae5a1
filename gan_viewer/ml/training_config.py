"""A whole training run as one typed value: :class:`TrainingConfig` and :func:`train_generator`.

``gan-viewer train`` builds a :class:`TrainingConfig` from its options and calls
:func:`train_generator`; so does :func:`gan_viewer.api.train`. The checks here (how long, where
the outputs go, box against depth) are the command's, with the same messages.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gan_viewer.errors import InputError
from gan_viewer.ml.sources import TrainingData

if TYPE_CHECKING:
    from gan_viewer.ml.networks import UNetGenerator

log = logging.getLogger(__name__)


@dataclass
class TrainingConfig:
    """Everything a training run needs.

    Attributes
    ----------
    out
        Output name: the run writes ``out.safetensors``, ``out.json`` (model card), ``out.train.pt``
        (for ``resume``), ``out_examples.png`` and ``out_curves.png``.
    data
        Where the training pairs come from.
    steps, minutes
        Stop after this many steps, or this much time; at least one must be given.
    batch_size
        Pairs per step.
    validate_every
        Steps between validations and checkpoints.
    depth, base_channels
        U-Net depth (boxes must be multiples of ``2 ** depth``) and width of its first block.
    lambda_l1, loss, gan_weight
        Weight of the reconstruction term, which one ("l1" or "l2"), and weight of the adversarial term.
    lr, decay
        Adam's learning rate, and pix2pix's linear decay to 0: (first step, number of steps), or None.
    device
        "auto", "cpu", "cuda" or "mps".
    workers
        Processes that draw the training pairs in parallel (:mod:`gan_viewer.ml.batches`); 0 draws
        them in the training process. A GPU waits for the scenes' simulation unless most CPU cores
        draw them.
    seed
        Seeds torch, the pair sampler and the procedural structures.
    init
        Start the generator from this model's weights (``.safetensors`` with its card): a
        fine-tune. Its card's generator config is used; the discriminator and the optimiser start
        fresh and steps count from 0. The new card records the model in ``initialised_from``.
        Not with ``resume`` (a resumed run already holds its generator).
    resume
        Continue from ``out.train.pt``.
    force
        Replace an existing model of that name.
    command
        The command line recorded in the model card ("" from Python).
    """

    out: str | os.PathLike
    data: TrainingData = field(default_factory=TrainingData)
    steps: int | None = None
    minutes: float | None = None
    batch_size: int = 16
    validate_every: int = 200
    depth: int = 5
    base_channels: int = 32
    lambda_l1: float = 100.0
    loss: str = "l1"
    gan_weight: float = 1.0
    lr: float = 2e-4
    decay: tuple[int, int] | None = None
    device: str = "auto"
    workers: int = 0
    seed: int = 0
    init: str | os.PathLike | None = None
    resume: bool = False
    force: bool = False
    command: str = ""


def train_generator(config: TrainingConfig) -> dict:
    """Train a generator as ``config`` says and write its files; returns the model card.

    Returns
    -------
    dict
        The model card, as written to ``out.json``: ``validation`` holds ``psnr_db``,
        ``input_psnr_db`` and ``cc`` on the held-out pairs, ``training`` the steps run.

    Raises
    ------
    InputError
        Before anything is written: no stopping rule, an existing model without ``force`` or
        ``resume``, a missing output folder, unusable training data, a box that is not a
        multiple of ``2 ** depth``, or an ``init`` model that cannot be read, comes with
        ``resume``, or has another depth or width than the one asked for.
    """
    import torch

    from gan_viewer.ml.checkpoint import output_stem
    from gan_viewer.ml.inference import pick_device
    from gan_viewer.ml.networks import DiscriminatorConfig, GeneratorConfig
    from gan_viewer.ml.pix2pix import TrainConfig
    from gan_viewer.ml.sources import training_sources
    from gan_viewer.ml.train import RunSpec, check_run, train

    out = output_stem(Path(config.out))  # gen_snr0.05 stays gen_snr0.05 (not gen_snr0 + ".05")
    run = RunSpec(steps=config.steps, minutes=config.minutes, validate_every=config.validate_every,
                  seed=config.seed, extra_card={"name": out.name, "command": config.command}, workers=config.workers)
    if config.workers < 0:
        raise InputError(f"--workers must be 0 or more, got {config.workers}")
    initial = _initial_generator(config) if config.init is not None else None
    if initial is not None:
        run.extra_card["initialised_from"] = initial[1]
    check_run(out, run, resume=config.resume, overwrite=config.force)  # before any work
    device = pick_device(config.device)
    torch.set_float32_matmul_precision("high")
    try:
        generator = (GeneratorConfig(depth=config.depth, base_channels=config.base_channels) if initial is None
                     else initial[0].config)
        training = TrainConfig(lambda_l1=config.lambda_l1, batch_size=config.batch_size,
                               gan_weight=config.gan_weight, reconstruction=config.loss, lr=config.lr,
                               decay_from=None if config.decay is None else int(config.decay[0]),
                               decay_steps=0 if config.decay is None else int(config.decay[1]))
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if config.workers:
        from gan_viewer.ml.batches import prefer_fork_safe_threads

        prefer_fork_safe_threads()  # before anything is simulated here
    train_source, val_source = training_sources(config.data, config.seed, device, config.workers)
    return train(train_source, val_source, out, generator, DiscriminatorConfig(), training, run, device=device,
                 resume=config.resume, overwrite=config.force,
                 initial_generator=None if initial is None else initial[0].state_dict())


def _initial_generator(config: TrainingConfig) -> tuple[UNetGenerator, dict]:
    """The generator of ``config.init`` and what the new card says of it (``initialised_from``);
    InputError when it cannot start this run."""
    from gan_viewer.ml.checkpoint import load_generator

    path = Path(config.init)
    if config.resume:
        raise InputError("--init starts a run from a model and --resume continues one; give one of them", path)
    generator, card = load_generator(path)
    defaults = TrainingConfig(out="")
    for name in ("depth", "base_channels"):
        asked, has = getattr(config, name), getattr(generator.config, name)
        if asked != getattr(defaults, name) and asked != has:
            raise InputError(f"has {name.replace('_', '-')} {has}, not the {asked} asked for", path)
    log.info("generator initialised from %s (%s steps)", path, (card.get("training") or {}).get("steps", "?"))
    return generator, {"model": str(path), "name": card.get("name"), "sha256": card.get("sha256"),
                       "steps": (card.get("training") or {}).get("steps")}
