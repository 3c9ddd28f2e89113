"""Spatial attention (S3TA eqs. 3-5) and the what/where split (appendix A.2, eqs. 8-11) against
plain numpy loops."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s3ta_jax import attention


def _reference(queries, keys, values):
  """Eqs. 3-5 one head, one batch element, one position at a time, in float64."""
  b, n, _ = queries.shape
  _, h, w, cv = values.shape
  answers = np.zeros((b, n, cv))
  weights = np.zeros((b, n, h, w))
  for bi in range(b):
    for ni in range(n):
      logits = np.zeros((h, w))
      for i in range(h):
        for j in range(w):
          logits[i, j] = sum(float(queries[bi, ni, c]) * float(keys[bi, i, j, c])
                             for c in range(keys.shape[-1]))
      e = np.exp(logits - logits.max())
      weights[bi, ni] = e / e.sum()
      for i in range(h):
        for j in range(w):
          answers[bi, ni] += weights[bi, ni, i, j] * values[bi, i, j].astype(np.float64)
  return answers, weights


def _random(seed, b=2, n=3, h=4, w=5, ck=6, cv=7):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(b, n, ck)).astype(np.float32),
          rng.normal(size=(b, h, w, ck)).astype(np.float32),
          rng.normal(size=(b, h, w, cv)).astype(np.float32))


def test_matches_numpy_loop():
  q, k, v = _random(0)
  answers, weights = jax.jit(attention.spatial_attention)(q, k, v)
  ref_answers, ref_weights = _reference(q, k, v)
  assert answers.shape == (2, 3, 7) and weights.shape == (2, 3, 4, 5)
  np.testing.assert_allclose(weights, ref_weights, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(answers, ref_answers, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.sum(weights, axis=(-2, -1)), 1.0, rtol=1e-6)


def test_stable_for_huge_logits():
  # Logits of +-1e4: a naive exp overflows to inf/nan. The largest key wins outright.
  q = np.ones((1, 2, 1), np.float32) * np.array([1.0, -1.0], np.float32)[None, :, None]
  k = np.zeros((1, 3, 3, 1), np.float32)
  k[0, 1, 2, 0] = 1e4
  k[0, 2, 0, 0] = -1e4
  v = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
  answers, weights = attention.spatial_attention(q, k, v)
  assert np.all(np.isfinite(weights)) and np.all(np.isfinite(answers))
  np.testing.assert_allclose(np.sum(weights, axis=(-2, -1)), 1.0, rtol=1e-6)
  assert weights[0, 0, 1, 2] == 1.0 and weights[0, 1, 2, 0] == 1.0
  np.testing.assert_allclose(answers[0, :, 0], [5.0, 6.0])
  # Gradients stay finite too.
  grad = jax.grad(lambda kk: attention.spatial_attention(q, kk, v)[0].sum())(k)
  assert np.all(np.isfinite(grad))


def test_permuting_positions_leaves_answers_unchanged():
  q, k, v = _random(1)
  b, h, w, _ = k.shape
  perm = np.random.default_rng(2).permutation(h * w)
  kp = k.reshape(b, h * w, -1)[:, perm].reshape(k.shape)
  vp = v.reshape(b, h * w, -1)[:, perm].reshape(v.shape)
  answers, weights = attention.spatial_attention(q, k, v)
  answers_p, weights_p = attention.spatial_attention(q, kp, vp)
  np.testing.assert_allclose(answers_p, answers, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(weights_p.reshape(b, 3, -1),
                             np.asarray(weights).reshape(b, 3, -1)[:, :, perm], rtol=1e-6)


def test_what_where_split_and_contribution():
  q, k, _ = _random(3, ck=10)
  cs = 4  # Last 4 channels play the spatial basis.
  what, where = attention.what_where(q, k, cs)
  b, n, _ = q.shape
  _, h, w, _ = k.shape
  for bi in range(b):
    for ni in range(n):
      for i in range(h):
        for j in range(w):
          np.testing.assert_allclose(what[bi, ni, i, j], np.dot(q[bi, ni, :6], k[bi, i, j, :6]),
                                     rtol=1e-5, atol=1e-5)
          np.testing.assert_allclose(where[bi, ni, i, j], np.dot(q[bi, ni, 6:], k[bi, i, j, 6:]),
                                     rtol=1e-5, atol=1e-5)
  weights = attention.attention_weights(what + where)
  _, ref_weights = _reference(q, k, k)
  np.testing.assert_allclose(weights, ref_weights, rtol=1e-5, atol=1e-6)
  # Eqs. 10-11, element by element.
  c = attention.what_where_contribution(what, where, weights)
  d = np.asarray(what - where, np.float64)
  bound = math.log(10)
  expect = np.where(d < -bound, -bound, np.where(d > bound, bound, d)) * np.asarray(weights)
  np.testing.assert_allclose(c, expect, rtol=1e-5, atol=1e-7)
  assert np.all(np.abs(c) <= bound * np.asarray(weights) + 1e-6)


def test_shape_errors():
  q, k, v = _random(4)
  with pytest.raises(AssertionError):  # chex: query and key channel counts differ.
    attention.spatial_attention(q[..., :5], k, v)
  with pytest.raises(ValueError, match="num_basis_channels"):
    attention.what_where(q, k, 7)
