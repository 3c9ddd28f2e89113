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


def _autodiff_unroll(params, carry, gates_x, reset, forget_bias=1.0):
  """The recurrence as a plain loop of lax convolutions, differentiated by autodiff."""
  kernel = params["params"]["hidden"]["kernel"]
  hs = []
  for t in range(gates_x.shape[0]):
    keep = (1.0 - reset[t].astype(jnp.float32))[:, None, None, None]
    c, h = carry[0] * keep, carry[1] * keep
    gates = gates_x[t] + jax.lax.conv_general_dilated(h, kernel, (1, 1), "SAME",
                                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f + forget_bias) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    carry = (c, h)
    hs.append(h)
  return carry, jnp.stack(hs)


def test_unroll_and_its_gradients_match_autodiff_of_a_plain_loop():
  cell, params, carry, xs = _setup()
  rng = np.random.default_rng(1)
  gates_x = jnp.asarray(rng.normal(size=(4,) + carry[0].shape[:-1] + (20,)), jnp.float32)
  reset = jnp.asarray([[True, False], [False, False], [True, False], [False, True]])
  w_h = jnp.asarray(rng.normal(size=(4,) + carry[0].shape), jnp.float32)

  def loss(unroll):
    def f(params, gates_x, carry):
      (c, h), hs = unroll(params, carry, gates_x, reset)
      return jnp.sum(hs * w_h) + jnp.sum(c ** 2) + jnp.sum(h)
    return f

  ours = lambda p, carry, g, r: cell.apply(p, carry, g, r, method="unroll")
  (c, h), hs = ours(params, carry, gates_x, reset)
  (rc, rh), rhs = _autodiff_unroll(params, carry, gates_x, reset)
  np.testing.assert_allclose(hs, rhs, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(c, rc, rtol=1e-5, atol=1e-6)
  grads = jax.grad(loss(ours), argnums=(0, 1, 2))(params, gates_x, carry)
  reference = jax.grad(loss(_autodiff_unroll), argnums=(0, 1, 2))(params, gates_x, carry)
  # The input kernel gets no gradient from the recurrence (its gates are given).
  assert not np.any(grads[0]["params"]["input"]["kernel"])
  for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(reference)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  # Env 0 resets at step 0, so its initial state has no effect; env 1's has until step 3.
  for d_carry in grads[2]:
    assert not np.any(d_carry[0]) and np.all(np.abs(d_carry[1]) > 0)


def test_unroll_of_one_step_is_from_gates():
  cell, params, carry, xs = _setup()
  gates = cell.apply(params, xs[0], method="input_gates")
  (c, h), out = cell.apply(params, carry, gates, method="from_gates")
  (c1, h1), outs = cell.apply(params, carry, gates[None], method="unroll")
  np.testing.assert_array_equal(out, outs[0])
  np.testing.assert_array_equal(c, c1)
