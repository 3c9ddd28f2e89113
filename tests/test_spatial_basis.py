"""Spatial basis (S3TA section 2.1, eq. 7) against closed forms evaluated in plain Python loops."""
import math

import numpy as np
import pytest

from s3ta_jax import spatial_basis


def _reference(height, width, num_even, num_odd):
  """Loops over positions and frequencies; the channel order is [cos u=0.., sin v=1..]^2."""
  funcs = ([lambda x, n, u=u: math.cos(math.pi * u * x / n) for u in range(num_even)] +
           [lambda x, n, v=v: math.sin(math.pi * v * x / n) for v in range(1, num_odd + 1)])
  out = np.zeros((height, width, len(funcs) ** 2))
  for i in range(height):
    for j in range(width):
      for a, fa in enumerate(funcs):
        for b, fb in enumerate(funcs):
          out[i, j, a * len(funcs) + b] = fa(i, height) * fb(j, width)
  return out


@pytest.mark.parametrize("height,width,num_even,num_odd", [(27, 20, 4, 4), (11, 11, 4, 4),
                                                           (5, 7, 2, 3)])
def test_matches_closed_form(height, width, num_even, num_odd):
  s = spatial_basis.spatial_basis(height, width, num_even, num_odd)
  assert s.shape == (height, width, (num_even + num_odd) ** 2)
  np.testing.assert_allclose(s, _reference(height, width, num_even, num_odd), atol=1e-6)


def test_paper_size_has_64_channels_and_eq7_channel():
  s = spatial_basis.spatial_basis(27, 20)
  assert s.shape == (27, 20, 64) and spatial_basis.num_channels() == 64
  # Eq. 7, u = 1, v = 2 (both even functions): row function index 1, column function index 2.
  i, j = np.meshgrid(np.arange(27), np.arange(20), indexing="ij")
  np.testing.assert_allclose(s[..., 1 * 8 + 2],
                             np.cos(np.pi * 1 * i / 27) * np.cos(np.pi * 2 * j / 20), atol=1e-6)
  np.testing.assert_allclose(s[..., 0], 1.0)  # cos(0) x cos(0): the constant channel.


@pytest.mark.parametrize("height,width", [(27, 20), (11, 11), (8, 8)])
def test_every_channel_is_rank_one(height, width):
  s = spatial_basis.spatial_basis(height, width, dtype=np.float64)
  for k in range(s.shape[-1]):
    sv = np.linalg.svd(s[..., k], compute_uv=False)
    assert sv[0] > 1e-3 and sv[1] < 1e-9 * sv[0], (k, sv[:2])


@pytest.mark.parametrize("height,width", [(27, 20), (11, 11), (8, 8)])
def test_channels_linearly_independent(height, width):
  s = spatial_basis.spatial_basis(height, width, dtype=np.float64).reshape(height * width, -1)
  sv = np.linalg.svd(s, compute_uv=False)
  # Independent but not orthogonal (half-period cos/sin on [0, pi) are far from orthogonal), so
  # check the smallest singular value against float64 noise rather than against 1.
  assert sv[-1] > 1e-8 * sv[0], sv[-1] / sv[0]
  assert np.linalg.matrix_rank(s, tol=1e-8 * sv[0]) == 64


def test_bad_sizes_raise():
  with pytest.raises(ValueError, match="length"):
    spatial_basis.spatial_basis(0, 5)
