"""Convolutional LSTM cell (Shi et al. 2015), the recurrent layer of S3TA's vision core (eq. 1).

  G = W_x * x_t + W_h * h_{t-1} + b          (* is a 'SAME' 2-D convolution, 4C output channels)
  i, f, g, o = split(G)
  c_t = sigmoid(f + forget_bias) c_{t-1} + sigmoid(i) tanh(g)
  h_t = sigmoid(o) tanh(c_t)

Shi et al. also have peephole terms (W_c o c); like Sonnet's Conv2DLSTM, which DeepMind agents
use, this cell omits them. The input convolution is a separate submodule (`input_gates`) so that
a learner unroll can apply it to all T*B frames at once, outside the time loop; `from_gates` does
the recurrent part. `__call__(carry, x)` is the usual cell signature, usable under `nn.scan`.

The recurrent convolution W_h * h runs inside the time loop, and XLA:CPU differentiates a
convolution inside a while loop some 50-100x slower than outside one (measured with jax 0.10.2:
10 steps of a 3x3, 128->512 ConvLSTM, grad 55 s under scan vs 0.9 s unrolled). So it is computed
as the same convolution written as one matmul over 3x3 patches (`PatchConv`, same [kh, kw, C, 4C]
kernel), whose gradient is a plain matmul plus pads and slices, fast in a loop.
"""
from __future__ import annotations

from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

# (c, h), each [B, h, w, C].
ConvLSTMState = tuple[jax.Array, jax.Array]


class PatchConv(nn.Module):
  """A stride-1 'SAME' convolution without bias, computed as a matmul over gathered patches.

  Equal to `nn.Conv(features, kernel_size, padding="SAME", use_bias=False)` (same kernel layout
  [kh, kw, C_in, features], cross-correlation), but its gradient avoids XLA:CPU's slow path for
  convolutions inside loops (see the module docstring).
  """
  features: int
  kernel_size: Sequence[int] = (3, 3)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.kernel_size
    if kh % 2 == 0 or kw % 2 == 0:
      raise ValueError(f"PatchConv needs odd kernel sizes for 'SAME' padding, got {kh}x{kw}.")
    cin = x.shape[-1]
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (kh, kw, cin, self.features))
    h, w = x.shape[-3:-1]
    pad = [(0, 0)] * (x.ndim - 3) + [(kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)]
    xp = jnp.pad(x, pad)
    # Patches ordered (di, dj, c), matching the kernel's row-major [kh, kw, C_in] layout.
    patches = jnp.concatenate([xp[..., di:di + h, dj:dj + w, :]
                               for di in range(kh) for dj in range(kw)], axis=-1)
    return patches @ kernel.reshape(kh * kw * cin, self.features)


class ConvLSTMCell(nn.Module):
  """ConvLSTM cell; carry (c, h) of shape [B, height, width, features] each."""
  features: int
  kernel_size: Sequence[int] = (3, 3)
  forget_bias: float = 1.0

  def setup(self):
    ks = tuple(self.kernel_size)
    self.input_conv = nn.Conv(4 * self.features, ks, padding="SAME", name="input")
    # The bias lives in the input convolution only; a second one would be redundant.
    self.hidden_conv = PatchConv(4 * self.features, ks, name="hidden")

  def input_gates(self, x: jax.Array) -> jax.Array:
    """W_x * x + b: [..., height, width, C_in] -> [..., height, width, 4 * features]."""
    return self.input_conv(x)

  def from_gates(self, carry: ConvLSTMState, gates_x: jax.Array) -> tuple[ConvLSTMState, jax.Array]:
    """One step given precomputed input gates; returns ((c, h), h)."""
    c, h = carry
    chex.assert_equal_shape([c, h])
    chex.assert_shape(gates_x, c.shape[:-1] + (4 * self.features,))
    gates = gates_x + self.hidden_conv(h)
    self.sow("intermediates", "gates", gates)  # Read by impala.diagnostics (saturation).
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    new_c = jax.nn.sigmoid(f + self.forget_bias) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    new_h = jax.nn.sigmoid(o) * jnp.tanh(new_c)
    return (new_c, new_h), new_h

  def __call__(self, carry: ConvLSTMState, x: jax.Array) -> tuple[ConvLSTMState, jax.Array]:
    return self.from_gates(carry, self.input_gates(x))

  @staticmethod
  def initial_state(batch_size: int, height: int, width: int, features: int,
                    dtype=jnp.float32) -> ConvLSTMState:
    """Zero (c, h); a pure function of shapes, no parameters needed."""
    zeros = jnp.zeros((batch_size, height, width, features), dtype)
    return zeros, zeros
