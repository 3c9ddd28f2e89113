"""Convolution as patches @ kernel and max pool as a max over slices, against lax / flax."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s3ta_jax import matmul_conv


@pytest.mark.parametrize("shape,kernel,stride", [((2, 9, 7, 3), (3, 3, 3, 5), 1),
                                                  ((2, 21, 16, 3), (8, 8, 3, 4), 4),
                                                  ((1, 11, 10, 4), (4, 4, 4, 6), 2)])
def test_conv_and_gradients_match_lax(shape, kernel, stride):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  k = jnp.asarray(rng.normal(size=kernel), jnp.float32)
  lax_conv = lambda x, k: jax.lax.conv_general_dilated(
      x, k, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  ours = lambda x, k: matmul_conv.conv(x, k, (stride, stride))
  y = lax_conv(x, k)
  np.testing.assert_allclose(ours(x, k), y, rtol=1e-5, atol=1e-4)
  w = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
  grads = jax.grad(lambda x, k: jnp.sum(ours(x, k) * w), (0, 1))(x, k)
  want = jax.grad(lambda x, k: jnp.sum(lax_conv(x, k) * w), (0, 1))(x, k)
  for got, ref in zip(grads, want):
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_flax_conv_keeps_the_parameters_and_numbers_of_flax_conv():
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 6, 5, 3)), jnp.float32)
  plain = nn.Conv(4, (3, 3), padding="SAME")
  ours = nn.Conv(4, (3, 3), padding="SAME", conv_general_dilated=matmul_conv.flax_conv)
  params = plain.init(jax.random.PRNGKey(0), x)
  assert jax.tree.structure(ours.init(jax.random.PRNGKey(0), x)) == jax.tree.structure(params)
  np.testing.assert_allclose(ours.apply(params, x), plain.apply(params, x), rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="SAME"):
    nn.Conv(4, (3, 3), padding="VALID", conv_general_dilated=matmul_conv.flax_conv).init(
        jax.random.PRNGKey(0), x)


@pytest.mark.parametrize("shape", [(2, 9, 7, 3), (1, 8, 8, 2)])
def test_max_pool_and_gradient_match_flax(shape):
  x = jnp.asarray(np.random.default_rng(2).normal(size=shape), jnp.float32)
  flax_pool = lambda x: nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
  np.testing.assert_array_equal(matmul_conv.max_pool(x), flax_pool(x))
  w = jnp.asarray(np.random.default_rng(3).normal(size=flax_pool(x).shape), jnp.float32)
  np.testing.assert_allclose(jax.grad(lambda x: jnp.sum(matmul_conv.max_pool(x) * w))(x),
                             jax.grad(lambda x: jnp.sum(flax_pool(x) * w))(x), rtol=1e-6)
