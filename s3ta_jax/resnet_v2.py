"""Pre-activation ResNets (He et al. 2016, "Identity mappings in deep residual networks", v2): the
vision cores of S3TA's supervised models (Mott et al. 2019, Table 6: ResNet-50 v2 for ImageNet;
Table 7: ResNet-34 v2 for Kinetics).

Each block is BN -> relu -> conv ... + shortcut, with no activation after the addition; the
network ends with BN -> relu, so its output map is rectified. The shortcut is a 1x1 conv (applied
to the pre-activated input, as in v2) where a block changes width or stride. Stride 2 sits in the
first block of every stage but the first (in the 3x3 conv of a bottleneck).

`stage_sizes` (3, 4, 6, 3) with `block="bottleneck"` and width 64 is ResNet-50 (2048 output
channels); with `block="basic"`, ResNet-34 (512). `stem="imagenet"` is the 7x7/2 conv and 3x3/2
max-pool (224 -> 56 before the stages, 7x7 at the end); `stem="small"` a 3x3/2 conv for small
images (60x60 cluttered MNIST -> 30x30 before the stages).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

BLOCKS = ("basic", "bottleneck")
STEMS = ("imagenet", "small")


def output_channels(width: int, num_stages: int, block: str) -> int:
  """Channels of the final map: width * 2^(stages-1), times 4 for bottleneck blocks."""
  return width * 2 ** (num_stages - 1) * (4 if block == "bottleneck" else 1)


def output_size(size: int, num_stages: int, stem: str) -> int:
  """Spatial size of the final map for a `size` x `size` input ('SAME' padding: ceil halvings)."""
  halvings = (num_stages - 1) + (2 if stem == "imagenet" else 1)
  for _ in range(halvings):
    size = -(-size // 2)
  return size


class _Block(nn.Module):
  """One pre-activation block: basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 x4)."""
  width: int
  stride: int
  bottleneck: bool

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9)
    out_channels = self.width * (4 if self.bottleneck else 1)
    pre = nn.relu(norm()(x))
    shortcut = x
    if self.stride != 1 or x.shape[-1] != out_channels:
      shortcut = nn.Conv(out_channels, (1, 1), (self.stride, self.stride), use_bias=False,
                         name="shortcut")(pre)
    if self.bottleneck:
      y = nn.Conv(self.width, (1, 1), use_bias=False)(pre)
      y = nn.Conv(self.width, (3, 3), (self.stride, self.stride), padding="SAME",
                  use_bias=False)(nn.relu(norm()(y)))
      y = nn.Conv(out_channels, (1, 1), use_bias=False)(nn.relu(norm()(y)))
    else:
      y = nn.Conv(self.width, (3, 3), (self.stride, self.stride), padding="SAME",
                  use_bias=False)(pre)
      y = nn.Conv(out_channels, (3, 3), padding="SAME", use_bias=False)(nn.relu(norm()(y)))
    return shortcut + y


class ResNetV2(nn.Module):
  """[B, H, W, C] float images -> [B, h, w, output_channels] rectified feature map."""
  stage_sizes: Sequence[int] = (3, 4, 6, 3)
  width: int = 64
  block: str = "bottleneck"
  stem: str = "imagenet"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.block not in BLOCKS or self.stem not in STEMS:
      raise ValueError(f"ResNetV2 block {self.block!r} / stem {self.stem!r}: use one of {BLOCKS} "
                       f"and one of {STEMS}.")
    if self.stem == "imagenet":
      x = nn.Conv(self.width, (7, 7), (2, 2), padding="SAME", use_bias=False, name="stem")(x)
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
    else:
      x = nn.Conv(self.width, (3, 3), (2, 2), padding="SAME", use_bias=False, name="stem")(x)
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        stride = 2 if i > 0 and j == 0 else 1
        x = _Block(self.width * 2 ** i, stride, self.block == "bottleneck",
                   name=f"stage{i}_block{j}")(x, train)
    return nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, name="final_norm")(x))
