"""A convolution computed as one matmul over gathered patches (im2col), and a max pool as a max
over strided slices: the same numbers as `lax.conv_general_dilated` / `flax.linen.max_pool`,
in forms whose gradients XLA:CPU runs faster for the shapes that dominate our agents.

Measured with jax 0.10.2 on a 2-core AMD EPYC (docs/notes/2026-12-07-atari-speed.md): the weight
gradient of the paper agent's ConvLSTM input convolution (3x3, 64 -> 512 channels on 27x20) runs
at ~64 GFLOP/s as a convolution and at the matmul rate (~190) as patches^T @ dY; the gradient of
`flax.linen.max_pool` (select-and-scatter) takes ~25% more than that of a max over 9 slices.
Accelerators fuse both forms.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp


def _same_pads(size: int, window: int, stride: int) -> tuple[int, int]:
  out = -(-size // stride)
  total = max((out - 1) * stride + window - size, 0)
  return total // 2, total - total // 2


def _windows(x: jax.Array, window: Sequence[int], strides: Sequence[int], pad_value=0.0):
  """The kh*kw strided views [N, out_h, out_w, C] of a 'SAME'-padded NHWC `x`, in (di, dj) order."""
  (kh, kw), (sh, sw) = window, strides
  (pt, pb), (pl, pr) = _same_pads(x.shape[1], kh, sh), _same_pads(x.shape[2], kw, sw)
  xp = jnp.pad(x, [(0, 0), (pt, pb), (pl, pr), (0, 0)], constant_values=pad_value)
  out_h, out_w = -(-x.shape[1] // sh), -(-x.shape[2] // sw)
  return [xp[:, di:di + sh * (out_h - 1) + 1:sh, dj:dj + sw * (out_w - 1) + 1:sw]
          for di in range(kh) for dj in range(kw)]


def patches(x: jax.Array, window: Sequence[int], strides: Sequence[int] = (1, 1)) -> jax.Array:
  """[N, H, W, C] -> [N, out_h, out_w, kh * kw * C] ('SAME'), ordered (di, dj, c) as an HWIO kernel."""
  return jnp.concatenate(_windows(x, window, strides), axis=-1)


def conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int] = (1, 1)) -> jax.Array:
  """'SAME' NHWC x HWIO cross-correlation as patches @ kernel."""
  kh, kw, cin, cout = kernel.shape
  return patches(x, (kh, kw), strides) @ kernel.reshape(kh * kw * cin, cout)


def flax_conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
              dimension_numbers=None, feature_group_count=1, precision=None, **unused):
  """`conv` as the `conv_general_dilated` of a `flax.linen.Conv(..., padding="SAME")` (NHWC)."""
  del dimension_numbers, precision, unused  # flax passes NHWC / HWIO for 4-D inputs.
  dilated = any(d != 1 for d in tuple(lhs_dilation or ()) + tuple(rhs_dilation or ()))
  if padding != "SAME" or dilated or feature_group_count != 1 or lhs.ndim != 4:
    raise ValueError("matmul_conv.flax_conv supports 2-D 'SAME' convolutions without dilation "
                     "or feature groups.")
  return conv(lhs, rhs, window_strides)


def max_pool(x: jax.Array, window: Sequence[int] = (3, 3),
             strides: Sequence[int] = (2, 2)) -> jax.Array:
  """'SAME' max pool over NHWC `x` (padding never wins), as `flax.linen.max_pool`."""
  views = _windows(x, window, strides, pad_value=-jnp.inf)
  out = views[0]
  for v in views[1:]:
    out = jnp.maximum(out, v)
  return out
