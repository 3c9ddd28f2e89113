"""The glimpse sensor against a plain numpy loop over output pixels."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ram_jax import glimpse


def retina_reference(images, locations, size, num_scales):
  """Pixel-by-pixel numpy: scale k averages 2**k x 2**k blocks of the size*2**k square centred at
  the pixel edge floor((l + 1) / 2 * W + 0.5), zero outside the image."""
  images = np.asarray(images, np.float64)
  b, h, w, c = images.shape
  out = np.zeros((b, num_scales, size, size, c))
  for n in range(b):
    x, y = np.clip(np.asarray(locations[n], np.float64), -1, 1)
    col, row = int(np.floor((x + 1) / 2 * w + 0.5)), int(np.floor((y + 1) / 2 * h + 0.5))
    for k in range(num_scales):
      block, width = 2**k, size * 2**k
      top, left = row - width // 2, col - width // 2
      for i in range(size):
        for j in range(size):
          total = np.zeros(c)
          for di in range(block):
            for dj in range(block):
              r, q = top + i * block + di, left + j * block + dj
              if 0 <= r < h and 0 <= q < w:
                total += images[n, r, q]
          out[n, k, i, j] = total / block**2
  return out


@pytest.mark.parametrize("hw,size,num_scales,channels", [
    ((28, 28), 8, 1, 1), ((20, 24), 4, 3, 2), ((17, 19), 5, 2, 1), ((12, 12), 6, 2, 3)])
def test_retina_matches_numpy_loop(hw, size, num_scales, channels):
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(6, *hw, channels)).astype(np.float32)
  # Corners, centre, random, and out-of-range (clipped) locations.
  locations = np.array([[-1, -1], [1, 1], [0, 0], [1.3, -2.0], *rng.uniform(-1, 1, (2, 2))],
                       np.float32)
  got = jax.jit(glimpse.retina, static_argnums=(2, 3))(images, locations, size, num_scales)
  assert got.shape == (6, num_scales, size, size, channels)
  np.testing.assert_allclose(got, retina_reference(images, locations, size, num_scales),
                             rtol=1e-5, atol=1e-6)


def test_location_convention():
  """(0, 0) puts an 8x8 patch on pixels 10..17 of a 28x28 image; x runs along the width."""
  images = np.zeros((2, 28, 28, 1), np.float32)
  images[:, 10:18, 10:18] = 1.0
  got = glimpse.retina(images, np.zeros((2, 2), np.float32), 8, 1)
  np.testing.assert_array_equal(got, np.ones((2, 1, 8, 8, 1)))
  marked = np.zeros((1, 28, 28, 1), np.float32)
  marked[0, 0, 27] = 1.0  # Top-right pixel: x = +1, y = -1.
  top_right = glimpse.retina(marked, np.array([[1.0, -1.0]], np.float32), 2, 1)
  np.testing.assert_array_equal(top_right[0, 0, :, :, 0], [[0, 0], [1, 0]])


def test_pixel_to_location_inverts_location_to_pixel():
  # Closed form: the top-left corner is (-1, -1), the centre (0, 0), the bottom-right (1, 1).
  np.testing.assert_allclose(glimpse.pixel_to_location(np.array([[0, 0], [30, 20], [60, 40]]), 60, 40),
                             [[-1, -1], [0, 0], [1, 1]])
  rows_cols = np.random.default_rng(0).integers(0, [[101, 73]], size=(500, 2))
  locations = glimpse.pixel_to_location(rows_cols, 100, 72)
  np.testing.assert_array_equal(glimpse.location_to_pixel(locations, 100, 72), rows_cols)


def test_vmap_and_grad():
  rng = np.random.default_rng(1)
  images = rng.uniform(size=(3, 4, 16, 16, 1)).astype(np.float32)
  locations = rng.uniform(-1, 1, (3, 4, 2)).astype(np.float32)
  batched = jax.vmap(lambda x, l: glimpse.retina(x, l, 4, 2))(images, locations)
  for i in range(3):
    np.testing.assert_allclose(batched[i], retina_reference(images[i], locations[i], 4, 2),
                               rtol=1e-5, atol=1e-6)
  # The retina is linear in the image, so d<w, retina(x)>/dx is retina's adjoint applied to w:
  # pixel p gets w[k, i, j] / 4**k from every output (k, i, j) whose block covers p.
  weights = rng.normal(size=(1, 2, 4, 4, 1))
  x, loc = images[0, :1], locations[0, :1]
  grad = jax.grad(lambda im: jnp.sum(glimpse.retina(im, loc, 4, 2) * weights))(x)
  expected = np.zeros((16, 16))
  for p in range(16):
    for q in range(16):
      basis = np.zeros((1, 16, 16, 1))
      basis[0, p, q] = 1.0
      expected[p, q] = np.sum(retina_reference(basis, loc, 4, 2) * weights)
  np.testing.assert_allclose(grad[0, :, :, 0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hw,size,num_scales,message", [
    ((28, 28), 8, 0, "num_scales must be >= 1"),
    ((28, 28), 8, 3, "largest glimpse .* is 32x32"),
])
def test_bad_arguments(hw, size, num_scales, message):
  with pytest.raises(ValueError, match=message):
    glimpse.retina(np.zeros((1, *hw, 1), np.float32), np.zeros((1, 2), np.float32), size,
                   num_scales)
