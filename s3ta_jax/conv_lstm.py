"""Convolutional LSTM cell (Shi et al. 2015), the recurrent layer of S3TA's vision core (eq. 1).

  G = W_x * x_t + W_h * h_{t-1} + b          (* is a 'SAME' 2-D convolution, 4C output channels)
  i, f, g, o = split(G)
  c_t = sigmoid(f + forget_bias) c_{t-1} + sigmoid(i) tanh(g)
  h_t = sigmoid(o) tanh(c_t)

Shi et al. also have peephole terms (W_c o c); like Sonnet's Conv2DLSTM, which DeepMind agents
use, this cell omits them. The input convolution is a separate submodule (`input_gates`) so that
a learner unroll can apply it to all T*B frames at once, outside the time loop; `unroll` runs the
recurrent part over a sequence, `from_gates` one step of it.

Why `unroll` has its own backward pass: XLA:CPU runs a convolution's forward pass inside a while
loop as fast as outside one, but its weight and input gradients there 15-26x slower (jax-ml/jax
#12868). `unroll`'s hand-written VJP (`_recurrence`) writes the backward-in-time term as a
forward convolution (dh_{t-1} = dG_t * flip(W_h)^T) and the weight gradient
sum_t h_{t-1} (x) dG_t as a matmul over 3x3 patches. It does the arithmetic autodiff would do, so
accelerators lose nothing; the agents run the recurrence over a whole unroll before their policy
core's time loop, since it does not depend on it.
"""
from __future__ import annotations

import functools
from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from s3ta_jax import matmul_conv

# (c, h), each [B, h, w, C].
ConvLSTMState = tuple[jax.Array, jax.Array]


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 'SAME' NHWC x HWIO cross-correlation (a forward convolution: fast inside loops)."""
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _cell(gates: jax.Array, c: jax.Array, forget_bias: float):
  """The gate non-linearities: (i, f, g, o activations, new c, new h)."""
  i, f, g, o = jnp.split(gates, 4, axis=-1)
  i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f + forget_bias), jnp.tanh(g), jax.nn.sigmoid(o)
  new_c = f * c + i * g
  return (i, f, g, o), new_c, o * jnp.tanh(new_c)


def _forward(kernel, gates_x, keep, carry, forget_bias):
  """The recurrence over time; also returns each step's (reset-masked) previous state."""
  def step(carry, inputs):
    gx, k = inputs
    mask = k[:, None, None, None]
    c, h = carry[0] * mask, carry[1] * mask
    gates = gx + _conv(h, kernel)
    _, new_c, new_h = _cell(gates, c, forget_bias)
    return (new_c, new_h), (new_h, gates, c, h)

  final, (hs, gates, c_prev, h_prev) = jax.lax.scan(step, carry, (gates_x, keep))
  return (hs, gates, final), (c_prev, h_prev)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _recurrence(kernel, gates_x, keep, carry, forget_bias):
  """(h_t for all t [T, B, ...], gates G_t [T, B, ..., 4C], final (c, h)); see `ConvLSTMCell.unroll`."""
  return _forward(kernel, gates_x, keep, carry, forget_bias)[0]


def _recurrence_fwd(kernel, gates_x, keep, carry, forget_bias):
  out, (c_prev, h_prev) = _forward(kernel, gates_x, keep, carry, forget_bias)
  return out, (kernel, out[1], c_prev, h_prev, keep)


def _recurrence_bwd(forget_bias, residuals, cotangents):
  kernel, gates, c_prev, h_prev, keep = residuals
  d_hs, d_gates_out, (d_c, d_h) = cotangents
  kh, kw, cin, cout = kernel.shape
  # The input gradient of a 'SAME' odd-kernel convolution is the convolution with the kernel
  # flipped in space and transposed in channels.
  kernel_t = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)

  def step(carry, inputs):
    d_c, d_h, d_kernel = carry
    gates_t, c_t, h_t, d_hs_t, d_gates_out_t, k = inputs
    (i, f, g, o), new_c, _ = _cell(gates_t, c_t, forget_bias)
    tanh_c = jnp.tanh(new_c)
    d_h = d_h + d_hs_t
    d_c = d_c + d_h * o * (1.0 - tanh_c ** 2)
    d_gates = jnp.concatenate([d_c * g * i * (1.0 - i), d_c * c_t * f * (1.0 - f),
                               d_c * i * (1.0 - g ** 2), d_h * tanh_c * o * (1.0 - o)], -1)
    d_gates = d_gates + d_gates_out_t
    # dW += h_{t-1} (x) dG_t, as a matmul over patches: a convolution's weight gradient is what
    # XLA:CPU runs slowly inside a loop, a matmul is not.
    flat = lambda x: x.reshape(-1, x.shape[-1])
    d_kernel = d_kernel + flat(matmul_conv.patches(h_t, (kh, kw))).T @ flat(d_gates)
    mask = k[:, None, None, None]
    d_h_prev = _conv(d_gates, kernel_t)
    return ((d_c * f) * mask, d_h_prev * mask, d_kernel), d_gates

  d_kernel = jnp.zeros((kh * kw * cin, cout), jnp.float32)
  (d_c, d_h, d_kernel), d_gates = jax.lax.scan(
      step, (d_c, d_h, d_kernel), (gates, c_prev, h_prev, d_hs, d_gates_out, keep), reverse=True)
  return d_kernel.reshape(kernel.shape), d_gates, jnp.zeros_like(keep), (d_c, d_h)


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


class _Kernel(nn.Module):
  """Holds the recurrent kernel at `<cell>/hidden/kernel`, where the cell always kept it."""
  shape: tuple[int, ...]

  @nn.compact
  def __call__(self) -> jax.Array:
    return self.param("kernel", nn.initializers.lecun_normal(), self.shape)


class ConvLSTMCell(nn.Module):
  """ConvLSTM cell; carry (c, h) of shape [B, height, width, features] each."""
  features: int
  kernel_size: Sequence[int] = (3, 3)
  forget_bias: float = 1.0

  def setup(self):
    ks = tuple(self.kernel_size)
    if ks[0] % 2 == 0 or ks[1] % 2 == 0:
      raise ValueError(f"ConvLSTMCell needs odd kernel sizes for 'SAME' padding, got {ks}.")
    # As patches @ kernel: XLA:CPU computes this convolution's weight gradient at a third of the
    # matmul rate (matmul_conv).
    self.input_conv = nn.Conv(4 * self.features, ks, padding="SAME", name="input",
                              conv_general_dilated=matmul_conv.flax_conv)
    # The bias lives in the input convolution only; a second one would be redundant.
    self.hidden = _Kernel(ks + (self.features, 4 * self.features), name="hidden")

  def input_gates(self, x: jax.Array) -> jax.Array:
    """W_x * x + b: [..., height, width, C_in] -> [..., height, width, 4 * features]."""
    return self.input_conv(x)

  def _run(self, carry, gates_x, reset):
    c, h = carry
    chex.assert_equal_shape([c, h])
    chex.assert_shape(gates_x, (None,) + c.shape[:-1] + (4 * self.features,))
    if reset is None:
      reset = jnp.zeros(gates_x.shape[:2], bool)
    keep = 1.0 - reset.astype(gates_x.dtype)
    hs, gates, final = _recurrence(self.hidden(), gates_x, keep, carry, self.forget_bias)
    return final, hs, gates

  def unroll(self, carry: ConvLSTMState, gates_x: jax.Array, reset: jax.Array | None = None,
             sow_steps: bool = True) -> tuple[ConvLSTMState, jax.Array]:
    """All steps from precomputed input gates [T, B, h, w, 4C]; returns (final (c, h), h [T, ...]).

    `reset` [T, B] True zeroes the state before step t for that batch entry. Sows the gate
    pre-activations as intermediate `gates` (read by impala.diagnostics): [T, B, h, w, 4C], or
    the one step's [B, h, w, 4C] when `sow_steps` is False (T must then be 1).
    """
    final, hs, gates = self._run(carry, gates_x, reset)
    if not sow_steps:
      chex.assert_axis_dimension(gates, 0, 1)
    self.sow("intermediates", "gates", gates if sow_steps else gates[0])
    return final, hs

  def from_gates(self, carry: ConvLSTMState, gates_x: jax.Array) -> tuple[ConvLSTMState, jax.Array]:
    """One step given precomputed input gates [B, h, w, 4C]; returns ((c, h), h)."""
    final, hs = self.unroll(carry, gates_x[None], sow_steps=False)
    return final, hs[0]

  def __call__(self, carry: ConvLSTMState, x: jax.Array) -> tuple[ConvLSTMState, jax.Array]:
    return self.from_gates(carry, self.input_gates(x))

  @staticmethod
  def initial_state(batch_size: int, height: int, width: int, features: int,
                    dtype=jnp.float32) -> ConvLSTMState:
    """Zero (c, h); a pure function of shapes, no parameters needed."""
    zeros = jnp.zeros((batch_size, height, width, features), dtype)
    return zeros, zeros
