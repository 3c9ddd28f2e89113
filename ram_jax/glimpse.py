"""The glimpse sensor ρ(x, l) of RAM (Mnih et al. 2014, sec. 4 "Retina and location encodings").

Locations are `(x, y)` in `[-1, 1]`, `(0, 0)` the image centre, `(-1, -1)` the top-left corner,
`x` along the width. A location maps to an integer *pixel-edge* coordinate

    cx = floor((x + 1) / 2 * W + 0.5),   cy = floor((y + 1) / 2 * H + 0.5)      (in [0, W], [0, H])

and a patch of width `s` centred there covers columns `cx - s // 2, ..., cx - s // 2 + s - 1`
(rows likewise). So `(0, 0)` on a 28×28 image puts an 8×8 patch on pixels 10..17, symmetric about
the centre, and `(-1, -1)` centres it on the top-left corner (three quarters of it outside).
Scale `k` is the patch of width `size * 2**k`, zero outside the image, averaged over `2**k × 2**k`
blocks down to `size × size`.

Every scale's patch has the same centre, so each one is a *static* sub-slice of the largest patch:
the sensor pads the images once, takes one `lax.dynamic_slice` of the largest patch per image,
and pools by summing strided slices. No per-pixel gather.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def largest_patch(size: int, num_scales: int) -> int:
  """Width in pixels of the coarsest scale's patch."""
  return size * 2 ** (num_scales - 1)


def check_retina_args(image_hw: tuple[int, int], size: int, num_scales: int):
  """Raises ValueError naming the fix when a retina cannot be built for these images."""
  if num_scales < 1:
    raise ValueError(f"num_scales must be >= 1, got {num_scales}.")
  if size < 1:
    raise ValueError(f"glimpse size must be >= 1, got {size}.")
  widest = largest_patch(size, num_scales)
  if min(image_hw) < widest:
    raise ValueError(
        f"images are {image_hw[0]}x{image_hw[1]} but the largest glimpse (size {size} at "
        f"{num_scales} scales) is {widest}x{widest}; use fewer scales or a smaller glimpse size.")


def location_to_pixel(locations: chex.Array, height: int, width: int) -> chex.Array:
  """Maps `[..., 2]` locations `(x, y)` in [-1, 1] to integer pixel-edge coordinates `(row, col)`."""
  col = jnp.floor((locations[..., 0] + 1.0) / 2.0 * width + 0.5)
  row = jnp.floor((locations[..., 1] + 1.0) / 2.0 * height + 0.5)
  return jnp.stack([row, col], axis=-1).astype(jnp.int32)


def pixel_to_location(row_col: chex.Array, height: int, width: int) -> chex.Array:
  """Inverse of `location_to_pixel`: `[..., 2]` pixel edges `(row, col)` -> locations `(x, y)`."""
  row_col = jnp.asarray(row_col, jnp.float32)
  return jnp.stack([2.0 * row_col[..., 1] / width - 1.0, 2.0 * row_col[..., 0] / height - 1.0], -1)


def pad_for_retina(images: chex.Array, size: int, num_scales: int) -> chex.Array:
  """Zero-pads `[B, H, W, C]` images so any patch centred in [0, H]×[0, W] lies inside.

  Split out so a model taking several glimpses of the same images pads them only once.
  """
  widest = largest_patch(size, num_scales)
  pad = widest - widest // 2  # Patch start ranges over [-widest//2, H - widest//2].
  return jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def retina_from_padded(padded: chex.Array, locations: chex.Array, image_hw: tuple[int, int],
                       size: int, num_scales: int) -> chex.Array:
  """`retina` on images already padded by `pad_for_retina`; `image_hw` is the unpadded size."""
  chex.assert_rank([padded, locations], [4, 2])
  widest = largest_patch(size, num_scales)
  pad = widest - widest // 2
  height, width = image_hw
  centre = location_to_pixel(jnp.clip(locations, -1.0, 1.0), height, width)  # [B, 2] (row, col)
  start = centre - widest // 2 + pad  # In padded coordinates, always within bounds.
  channels = padded.shape[-1]

  def crop(image, corner):
    return jax.lax.dynamic_slice(image, (corner[0], corner[1], 0), (widest, widest, channels))

  big = jax.vmap(crop)(padded, start)  # [B, widest, widest, C]
  scales = []
  for k in range(num_scales):
    width_k = size * 2**k
    offset = widest // 2 - width_k // 2  # Same centre as the largest patch: a static slice.
    patch = big[:, offset:offset + width_k, offset:offset + width_k, :]
    block = 2**k
    if block > 1:
      # Block means as sums of strided slices, rows then columns: XLA:CPU runs this ~7x faster
      # than a reshape-mean (whose reduced axes are not the innermost ones).
      patch = sum(patch[:, d::block] for d in range(block))
      patch = sum(patch[:, :, d::block] for d in range(block)) / block**2
    scales.append(patch)
  return jnp.stack(scales, axis=1)


def retina(images: chex.Array, locations: chex.Array, size: int, num_scales: int) -> chex.Array:
  """Multi-resolution glimpses ρ(x, l) (sec. 4): `[B, H, W, C]`, `[B, 2]` -> `[B, K, size, size, C]`.

  Scale `k` (0 = finest) is the `size * 2**k` square centred on the location (mapping in the
  module docstring), zero outside the image, averaged over `2**k × 2**k` blocks. Locations
  outside [-1, 1] are clipped. Differentiable w.r.t. `images` (not w.r.t. `locations`, which are
  rounded to pixels; RAM trains them with REINFORCE).
  """
  chex.assert_rank([images, locations], [4, 2])
  chex.assert_equal(locations.shape[-1], 2)
  check_retina_args(images.shape[1:3], size, num_scales)
  padded = pad_for_retina(images, size, num_scales)
  return retina_from_padded(padded, locations, images.shape[1:3], size, num_scales)
