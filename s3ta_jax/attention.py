"""S3TA's soft spatial attention (Mott et al. 2019, section 2, eqs. 3-5) and the what/where
decomposition of its logits (appendix A.2, eqs. 8-11).

Shapes: B batch, N heads (queries), h x w the spatial grid, Ck key channels, Cv value channels,
Cs spatial-basis channels. Keys and values already have the spatial basis appended (last Cs
channels), so a query has Ck + Cs channels and an answer Cv + Cs.
"""
from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp


def attention_weights(logits: jax.Array) -> jax.Array:
  """Spatial softmax over all h*w positions of each map (eq. 4): [..., h, w] -> [..., h, w].

  `jax.nn.softmax` subtracts the maximum first, so logits of +-1e4 give finite weights summing to 1.
  """
  shape = logits.shape
  flat = logits.reshape(shape[:-2] + (shape[-2] * shape[-1],))
  return jax.nn.softmax(flat, axis=-1).reshape(shape)


def attend(weights: jax.Array, values: jax.Array) -> jax.Array:
  """Answers a^n_c = sum_ij A^n_ij V_ijc (eq. 5): weights [B,N,h,w], values [B,h,w,C] -> [B,N,C]."""
  chex.assert_rank([weights, values], [4, 4])
  chex.assert_equal_shape_prefix([weights, values], 1)
  chex.assert_equal(weights.shape[2:], values.shape[1:3])
  return jnp.einsum("bnhw,bhwc->bnc", weights, values)


def attention_logits(queries: jax.Array, keys: jax.Array) -> jax.Array:
  """Logits A~^n_ij = sum_c q^n_c K_ijc (eq. 3): queries [B,N,C], keys [B,h,w,C] -> [B,N,h,w]."""
  chex.assert_rank([queries, keys], [3, 4])
  chex.assert_equal_shape_prefix([queries, keys], 1)
  chex.assert_equal(queries.shape[-1], keys.shape[-1])
  return jnp.einsum("bnc,bhwc->bnhw", queries, keys)


def spatial_attention(queries: jax.Array, keys: jax.Array,
                      values: jax.Array) -> tuple[jax.Array, jax.Array]:
  """One attention read per query (eqs. 3-5).

  Args:
    queries: [B, N, Ck+Cs], one query per head.
    keys: [B, h, w, Ck+Cs], keys with the spatial basis appended.
    values: [B, h, w, Cv+Cs], values with the spatial basis appended.

  Returns:
    answers [B, N, Cv+Cs] and attention weights [B, N, h, w] (each map sums to 1).
  """
  chex.assert_rank([queries, keys, values], [3, 4, 4])
  chex.assert_equal_shape_prefix([keys, values], 3)
  weights = attention_weights(attention_logits(queries, keys))
  return attend(weights, values), weights


def what_where(queries: jax.Array, keys: jax.Array,
               num_basis_channels: int) -> tuple[jax.Array, jax.Array]:
  """Splits the logits into content ("what", eq. 8) and spatial ("where", eq. 9) parts.

  what_ij = sum_{c < Ck} q_c K_ijc and where_ij = sum_{c < Cs} q_{Ck+c} S_ijc, so
  what + where equals the logits of eq. 3.

  Args:
    queries: [B, N, Ck+Cs].
    keys: [B, h, w, Ck+Cs], keys with the spatial basis S in the last `num_basis_channels`.
    num_basis_channels: Cs.

  Returns:
    (what, where), each [B, N, h, w].
  """
  chex.assert_rank([queries, keys], [3, 4])
  chex.assert_equal(queries.shape[-1], keys.shape[-1])
  ck = keys.shape[-1] - num_basis_channels
  if ck < 0:
    raise ValueError(f"num_basis_channels={num_basis_channels} exceeds the key channels "
                     f"({keys.shape[-1]}); pass the spatial basis channel count C_s.")
  what = attention_logits(queries[..., :ck], keys[..., :ck])
  where = attention_logits(queries[..., ck:], keys[..., ck:])
  return what, where


def what_where_contribution(what: jax.Array, where: jax.Array, weights: jax.Array) -> jax.Array:
  """C_ij = D_ij A_ij with D = clip(what - where, -log 10, log 10) (eqs. 10-11).

  Positive (red in the paper's figures): the content part dominates; negative (blue): the spatial
  part dominates; +-log(10) means "more than 10 times", weighted by the attention A.
  """
  chex.assert_equal_shape([what, where, weights])
  bound = math.log(10.0)
  return jnp.clip(what - where, -bound, bound) * weights
