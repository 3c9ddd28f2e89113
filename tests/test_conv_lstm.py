"""ConvLSTM cell (Shi et al. 2015, without peepholes) against a numpy loop, also under nn.scan."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s3ta_jax import conv_lstm


def _conv_same(x, kernel, bias=None):
  """'SAME' cross-correlation (odd kernel) with explicit loops over kernel offsets."""
  kh, kw, _, cout = kernel.shape
  b, h, w, _ = x.shape
  xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
  out = np.zeros((b, h, w, cout))
  for di in range(kh):
    for dj in range(kw):
      out += np.einsum("bhwc,co->bhwo", xp[:, di:di + h, dj:dj + w], kernel[di, dj])
  return out if bias is None else out + bias


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def _reference_step(params, carry, x, forget_bias=1.0):
  c, h = carry
  p = params["params"]
  gates = (_conv_same(x, np.asarray(p["input"]["kernel"], np.float64), p["input"]["bias"]) +
           _conv_same(h, np.asarray(p["hidden"]["kernel"], np.float64)))
  i, f, g, o = np.split(gates, 4, axis=-1)
  new_c = _sigmoid(f + forget_bias) * c + _sigmoid(i) * np.tanh(g)
  new_h = _sigmoid(o) * np.tanh(new_c)
  return new_c, new_h


def _setup(features=5, cin=3, b=2, h=6, w=4):
  cell = conv_lstm.ConvLSTMCell(features)
  rng = np.random.default_rng(0)
  carry = tuple(jnp.asarray(rng.normal(size=(b, h, w, features)), jnp.float32) for _ in range(2))
  xs = jnp.asarray(rng.normal(size=(3, b, h, w, cin)), jnp.float32)
  params = cell.init(jax.random.PRNGKey(0), carry, xs[0])
  # Random biases too, so that a wrong gate order or bias placement shows.
  params = jax.tree.map(lambda p: p + 0.3 * jnp.asarray(rng.normal(size=p.shape), jnp.float32),
                        params)
  return cell, params, carry, xs


@pytest.mark.parametrize("forget_bias", [1.0, -2.0])
def test_step_matches_numpy(forget_bias):
  cell, params, carry, xs = _setup()
  cell = conv_lstm.ConvLSTMCell(5, forget_bias=forget_bias)
  assert params["params"]["input"]["kernel"].shape == (3, 3, 3, 20)
  assert params["params"]["hidden"]["kernel"].shape == (3, 3, 5, 20)
  (c, h), out = cell.apply(params, carry, xs[0])
  ref_c, ref_h = _reference_step(params, tuple(np.asarray(a, np.float64) for a in carry),
                                 np.asarray(xs[0], np.float64), forget_bias)
  np.testing.assert_allclose(c, ref_c, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(h, ref_h, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out, h)


def test_under_nn_scan_matches_numpy_sequence():
  cell, params, carry, xs = _setup()
  scanned = nn.scan(conv_lstm.ConvLSTMCell, variable_broadcast="params",
                    split_rngs={"params": False})(5)
  (c, h), outs = scanned.apply(params, carry, xs)
  ref = tuple(np.asarray(a, np.float64) for a in carry)
  for t in range(3):
    ref = _reference_step(params, ref, np.asarray(xs[t], np.float64))
    np.testing.assert_allclose(outs[t], ref[1], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(c, ref[0], rtol=1e-4, atol=1e-5)


def test_initial_state_is_zero():
  c, h = conv_lstm.ConvLSTMCell.initial_state(3, 27, 20, 128)
  assert c.shape == h.shape == (3, 27, 20, 128)
  assert not np.any(c) and not np.any(h)
