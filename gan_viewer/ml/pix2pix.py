"""The pix2pix update: discriminator on the detached fake, then generator with
``gan_weight * GAN + lambda * reconstruction`` (L1 as in pix2pix, or L2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from gan_viewer.ml.networks import (DiscriminatorConfig, GeneratorConfig, PatchDiscriminator, UNetGenerator,
                                    _from_dict, init_weights)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (pix2pix defaults).

    Attributes
    ----------
    lambda_l1
        Weight of the reconstruction term (L1 or L2, see ``reconstruction``).
    gan_weight
        Weight of the adversarial term (pix2pix: 1; 0 trains the generator alone).
    reconstruction
        "l1" (pix2pix) or "l2" (mean squared error: the posterior mean, which shrinks towards
        what the data support).
    lr, beta1, beta2
        Adam settings for both networks.
    batch_size
        Pairs per step.
    gan_loss
        "vanilla" (binary cross-entropy on logits, pix2pix's default) or "lsgan".
    decay_from, decay_steps
        pix2pix's schedule: the learning rate stays at ``lr`` until step ``decay_from``, then falls
        linearly to 0 over ``decay_steps`` steps (None: constant). Steps count resumed ones, so a
        resumed run can add the decay to a model trained at a constant rate.
    """

    lambda_l1: float = 100.0
    gan_weight: float = 1.0
    reconstruction: str = "l1"
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 16
    gan_loss: str = "vanilla"
    decay_from: int | None = None
    decay_steps: int = 0

    def __post_init__(self) -> None:
        if (self.gan_loss not in ("vanilla", "lsgan") or self.reconstruction not in ("l1", "l2")
                or self.batch_size < 1 or self.lr <= 0 or self.gan_weight < 0 or self.lambda_l1 < 0):
            raise ValueError(f"bad training config {self}")
        if self.decay_from is not None and (self.decay_from < 0 or self.decay_steps < 1):
            raise ValueError(f"the learning-rate decay needs a start step >= 0 and at least one step, got "
                             f"{self.decay_from} and {self.decay_steps}")

    def learning_rate(self, step: int) -> float:
        """The learning rate of update number ``step`` (0-based, resumed steps included)."""
        if self.decay_from is None or step < self.decay_from:
            return self.lr
        return self.lr * max(0.0, 1.0 - (step - self.decay_from) / self.decay_steps)

    to_dict = asdict

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        return _from_dict(cls, values)


class Pix2Pix:
    """Generator, discriminator and their optimisers; :meth:`step` is one training update.

    Parameters
    ----------
    generator, discriminator, training
        Configs; saved with the weights.
    device
        Torch device.
    """

    def __init__(self, generator: GeneratorConfig, discriminator: DiscriminatorConfig, training: TrainConfig,
                 device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.configs = {"generator": generator, "discriminator": discriminator, "training": training}
        self.G = UNetGenerator(generator).to(self.device)
        self.D = PatchDiscriminator(discriminator).to(self.device)
        init_weights(self.G)
        init_weights(self.D)
        betas = (training.beta1, training.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=training.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=training.lr, betas=betas)
        self.gan_criterion = nn.BCEWithLogitsLoss() if training.gan_loss == "vanilla" else nn.MSELoss()
        self.lambda_l1 = training.lambda_l1
        self.gan_weight = training.gan_weight
        self.reconstruction = nn.functional.l1_loss if training.reconstruction == "l1" else nn.functional.mse_loss
        self.training = training
        self.step_count = 0

    def _gan_loss(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return self.gan_criterion(logits, target)

    def step(self, noisy: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
        """One update on (b, 1, h, w) pairs; returns the losses."""
        self.G.train()
        self.D.train()
        lr = self.training.learning_rate(self.step_count)  # set every step: a resumed optimiser holds its old one
        for optimiser in (self.opt_G, self.opt_D):
            for group in optimiser.param_groups:
                group["lr"] = lr
        fake = self.G(noisy)
        adversarial = self.gan_weight > 0
        loss_d = loss_g_gan = torch.zeros((), device=noisy.device)
        if adversarial:  # discriminator: real pairs vs the generator's output, detached (G not updated here)
            self.opt_D.zero_grad(set_to_none=True)
            loss_d_fake = self._gan_loss(self.D(torch.cat([noisy, fake.detach()], 1)), real=False)
            loss_d_real = self._gan_loss(self.D(torch.cat([noisy, clean], 1)), real=True)
            loss_d = 0.5 * (loss_d_fake + loss_d_real)
            loss_d.backward()
            self.opt_D.step()
        # generator: fool the (just updated) discriminator and stay close to the truth
        self.opt_G.zero_grad(set_to_none=True)
        for p in self.D.parameters():
            p.requires_grad_(False)
        if adversarial:
            loss_g_gan = self._gan_loss(self.D(torch.cat([noisy, fake], 1)), real=True)
        loss_g_l1 = self.reconstruction(fake, clean)
        loss_g = self.gan_weight * loss_g_gan + self.lambda_l1 * loss_g_l1
        loss_g.backward()
        self.opt_G.step()
        for p in self.D.parameters():
            p.requires_grad_(True)
        self.step_count += 1
        return {"D": loss_d.item(), "G_gan": loss_g_gan.item(), "G_L1": loss_g_l1.item()}

    @torch.inference_mode()
    def predict(self, noisy: torch.Tensor) -> torch.Tensor:
        """The generator in evaluation mode on (b, 1, h, w) images."""
        self.G.eval()
        return self.G(noisy)

    def state(self) -> dict:
        """Everything needed to resume (tensors, numbers and strings only: safe to load)."""
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_G": self.opt_G.state_dict(),
                "opt_D": self.opt_D.state_dict(), "step": self.step_count,
                "configs": {k: v.to_dict() for k, v in self.configs.items()}}

    def load_state(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.step_count = int(state["step"])
