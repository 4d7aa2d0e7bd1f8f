"""Autoencoders with a VQ bottleneck: an MLP for vector data and a convolutional VQ-VAE for images.

Both expose the same interface, which is all the trainer and the metrics use:

- ``encode(x)`` -> z_e, the encoder output in the model's layout;
- ``vectors(z)`` -> [N, d] rows for the quantizer, and ``unvectors(rows, like)`` back;
- ``forward(x)`` -> :class:`AutoencoderOutput` (reconstruction, embeddings, indices, VQ loss);
- ``decode_indices(indices)`` -> images/points decoded from token indices (for generators).

Capacity knobs (the embeddings-collapse study varies them): MLP ``depth`` (0 = a purely linear encoder)
and ``width``; conv ``channels``, ``num_res_blocks`` and ``num_downsamples``.

The quantizer is any :class:`~vqlib.quantizers.QuantizerLike` (a registered kind of :mod:`vqlib.quantizers`):
passed built, or as a function of no arguments that the model calls in the quantizer's place (after the
encoder and decoder, so their weights are drawn first), or, by default, vqlib's
:class:`~vqlib.quantizers.VectorQuantizer` made from the remaining keyword options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .quantizers import QuantizerLike, VectorQuantizer

__all__ = ["AutoencoderOutput", "VQAutoencoder", "MLPAutoencoder", "ConvVQVAE", "mlp", "scale_encoder_output"]


@dataclass
class AutoencoderOutput:
    reconstruction: torch.Tensor
    embeddings: torch.Tensor  # encoder outputs as [N, d] rows (before the quantizer)
    indices: torch.Tensor | None  # token index per row, None during the continuous phase
    vq_loss: torch.Tensor
    commitment_loss: torch.Tensor
    codebook_loss: torch.Tensor


class VQAutoencoder(nn.Module):
    """Encoder -> VectorQuantizer -> decoder. Subclasses build ``encoder`` and ``decoder``."""

    encoder: nn.Module
    decoder: nn.Module
    quantizer: QuantizerLike  # a registered kind of vqlib.quantizers (vqlib's VectorQuantizer by default)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def vectors(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def unvectors(self, rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return rows

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        z = self.encode(x)
        rows = self.vectors(z)
        vq = self.quantizer(rows)
        reconstruction = self.decoder(self.unvectors(vq.quantized, z))
        return AutoencoderOutput(reconstruction, rows, vq.indices, vq.loss, vq.commitment_loss, vq.codebook_loss)

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _quantizer(quantizer: nn.Module | Callable[[], nn.Module] | None, num_codes: int, latent_dim: int,
               options: dict) -> nn.Module:
    """The model's quantizer: ``quantizer`` itself, ``quantizer()`` (a factory called here, in the quantizer's
    place among the model's random draws), or vqlib's layer made from ``options``."""
    if quantizer is None:
        return VectorQuantizer(num_codes, latent_dim, **options)
    if options:
        raise TypeError(f"quantizer options {sorted(options)} apply to the default quantizer only: pass them to "
                        "the quantizer given instead")
    return quantizer if isinstance(quantizer, nn.Module) else quantizer()


def mlp(in_dim: int, out_dim: int, width: int, depth: int, activation=nn.GELU) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units; depth 0 is a single linear map."""
    if depth < 0 or width < 1:
        raise ValueError(f"depth must be >= 0 and width >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = []
    last = in_dim
    for _ in range(depth):
        layers += [nn.Linear(last, width), activation()]
        last = width
    layers.append(nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


class MLPAutoencoder(VQAutoencoder):
    """MLP encoder/decoder for points in R^D with one token per point (latent size ``latent_dim``)."""

    def __init__(self, input_dim: int, latent_dim: int, num_codes: int, *, depth: int = 2, width: int = 64,
                 decoder_depth: int = 2, decoder_width: int = 64,
                 quantizer: nn.Module | Callable[[], nn.Module] | None = None, **quantizer_options) -> None:
        super().__init__()
        for name, value in (("input_dim", input_dim), ("latent_dim", latent_dim)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.encoder = mlp(input_dim, latent_dim, width, depth)
        self.decoder = mlp(latent_dim, input_dim, decoder_width, decoder_depth)
        # ``quantizer``: any QuantizerLike layer or a factory of one; default vqlib's own
        self.quantizer = _quantizer(quantizer, num_codes, latent_dim, quantizer_options)

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        rows = self.quantizer.project_out(self.quantizer.codes()[indices.flatten()])
        return self.decoder(rows)


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ConvVQVAE(VQAutoencoder):
    """Convolutional VQ-VAE (van den Oord et al. 2017 layout) for images in [-1, 1], NCHW.

    ``num_downsamples`` stride-2 convolutions shrink H and W by 2 each (two: 32x32 -> 8x8 tokens), then
    ``num_res_blocks`` residual blocks and a 1x1 convolution to ``latent_dim``; the decoder mirrors it.
    """

    def __init__(self, num_codes: int, *, in_channels: int = 3, channels: int = 64, latent_dim: int = 64,
                 num_downsamples: int = 2, num_res_blocks: int = 2,
                 quantizer: nn.Module | Callable[[], nn.Module] | None = None, **quantizer_options) -> None:
        super().__init__()
        if channels < 1 or latent_dim < 1 or num_downsamples < 1 or num_res_blocks < 0:
            raise ValueError("channels, latent_dim and num_downsamples must be >= 1 and num_res_blocks >= 0; "
                             f"got channels={channels}, latent_dim={latent_dim}, "
                             f"num_downsamples={num_downsamples}, num_res_blocks={num_res_blocks}")
        down: list[nn.Module] = []
        last = in_channels
        for i in range(num_downsamples):
            width = channels if i == num_downsamples - 1 else max(channels // 2, 1)
            down += [nn.Conv2d(last, width, 4, stride=2, padding=1), nn.ReLU()]
            last = width
        down += [nn.Conv2d(last, channels, 3, padding=1)]
        down += [ResBlock(channels) for _ in range(num_res_blocks)]
        down += [nn.ReLU(), nn.Conv2d(channels, latent_dim, 1)]
        self.encoder = nn.Sequential(*down)

        up: list[nn.Module] = [nn.Conv2d(latent_dim, channels, 3, padding=1)]
        up += [ResBlock(channels) for _ in range(num_res_blocks)]
        up += [nn.ReLU()]
        last = channels
        for i in range(num_downsamples):
            final = i == num_downsamples - 1
            width = in_channels if final else max(channels // 2, 1)
            up.append(nn.ConvTranspose2d(last, width, 4, stride=2, padding=1))
            if not final:
                up.append(nn.ReLU())
            last = width
        self.decoder = nn.Sequential(*up)
        self.quantizer = _quantizer(quantizer, num_codes, latent_dim, quantizer_options)
        self.latent_dim = latent_dim

    def vectors(self, z: torch.Tensor) -> torch.Tensor:
        # [B, d, h, w] -> [B*h*w, d]: one token per latent position.
        return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])

    def unvectors(self, rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        b, d, h, w = like.shape
        return rows.reshape(b, h, w, d).permute(0, 3, 1, 2)

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Decode token maps [B, h, w] of code indices into images [B, C, H, W]."""
        b, h, w = indices.shape
        rows = self.quantizer.project_out(self.quantizer.codes()[indices.flatten()])
        return self.decoder(rows.reshape(b, h, w, -1).permute(0, 3, 1, 2))


def reconstruction_loss(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error, the reconstruction loss of every study here."""
    return F.mse_loss(reconstruction, target)


@torch.no_grad()
def scale_encoder_output(model: VQAutoencoder, gain: float) -> VQAutoencoder:
    """Multiply the weights and bias of the encoder's last layer by ``gain``, in place: its outputs (the embeddings
    an untrained encoder gives) scale by exactly ``gain``; what the layers before it compute is unchanged."""
    last = [m for m in model.encoder.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not last:
        raise ValueError("the encoder has no linear or convolutional layer to scale")
    last[-1].weight.mul_(gain)
    if last[-1].bias is not None:
        last[-1].bias.mul_(gain)
    return model

