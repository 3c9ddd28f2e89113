"""The non-attention baselines of Tables 1–2 (Mnih et al. 2014, sec. 4.1).

FC: two fully connected rectifier layers (64 or 256 units each) and a linear softmax.
Conv: one convolution of 8 or 16 10×10 filters with stride 5 ("valid", no padding) and a
rectifier, then a fully connected rectifier layer (256 units for 28/60×60 inputs, 86 for 100×100,
Table 2) and a linear softmax.

They share RAM's call signature `(images, key, deterministic) -> {'logits': ...}` so the same
training launch runs all three; `key` and `deterministic` are unused.
"""
from __future__ import annotations

import chex
import flax.linen as nn


class FCBaseline(nn.Module):
  """FC, 2 layers (`hidden` units each) of rectifiers, then a linear softmax (Tables 1–2)."""
  hidden: int = 256
  num_classes: int = 10

  @nn.compact
  def __call__(self, images: chex.Array, key=None, deterministic: bool = False):
    del key, deterministic
    x = images.reshape(images.shape[0], -1)
    x = nn.relu(nn.Dense(self.hidden)(x))
    x = nn.relu(nn.Dense(self.hidden)(x))
    return {"logits": nn.Dense(self.num_classes)(x)}


class ConvBaseline(nn.Module):
  """Conv(`filters` 10×10, stride 5) -> Rect -> FC(`hidden`) -> Rect -> linear softmax (Tables 1–2)."""
  filters: int = 16
  hidden: int = 256
  kernel: int = 10
  stride: int = 5
  num_classes: int = 10

  @nn.compact
  def __call__(self, images: chex.Array, key=None, deterministic: bool = False):
    del key, deterministic
    chex.assert_rank(images, 4)
    x = nn.relu(nn.Conv(self.filters, (self.kernel, self.kernel), strides=self.stride,
                        padding="VALID")(images))
    x = nn.relu(nn.Dense(self.hidden)(x.reshape(x.shape[0], -1)))
    return {"logits": nn.Dense(self.num_classes)(x)}
