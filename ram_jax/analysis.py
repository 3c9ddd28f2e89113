"""What a trained RAM policy does, measured (Mnih et al. 2014, Fig. 6: "reliably find and explore
around the object"): functions a notebook can call on a model and its parameters.

  policy_stats(model, params, config, task, images, labels)   does the policy find the digit?
  apply_with_policy / apply_with_glimpses_at                    the classifier under another policy
  brightest_window                                              a hand-made policy to beat
  offsets_from_digit                                            glimpse centres relative to the digit
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from ram_jax import data, glimpse
from ram_jax import model as ram_model


def offsets_from_digit(locations: np.ndarray, centres: np.ndarray, height: int,
                       width: int) -> np.ndarray:
  """`[B, T, 2]` glimpse locations, `[B, 2]` digit centres (row, col) -> `[B, T, 2]` pixel offsets
  (row, col) of the pixel edge each glimpse centres on from the digit's centre."""
  row_col = np.asarray(glimpse.location_to_pixel(np.clip(locations, -1, 1), height, width))
  return row_col - centres[:, None, :]


def apply_with_policy(model, params, images, key, next_location) -> dict:
  """`model.apply` in evaluation mode with glimpses 2..T placed by `next_location(step_outputs)`
  (a step's outputs -> `[B, 2]` locations) instead of the run's policy (glimpse 1 stays random):
  what would the classifier do with another policy? Replaces each step's next location through
  Flax's method interception."""
  step = ram_model._RAMStep  # pylint: disable=protected-access

  def look_there(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if isinstance(context.module, step) and context.method_name == "__call__":
      (core_carry, _), step_outputs = out
      return (core_carry, next_location(step_outputs)), step_outputs
    return out
  with nn.intercept_methods(look_there):
    return model.apply({"params": params}, images, key, deterministic=True)


def apply_with_glimpses_at(model, params, images, key, locations) -> dict:
  """`apply_with_policy` with glimpses 2..T all taken at `locations` `[B, 2]`."""
  locations = jnp.asarray(locations, jnp.float32)
  return apply_with_policy(model, params, images, key, lambda _: locations)


def brightest_window(rho: jax.Array, locations: jax.Array, image_hw: tuple[int, int],
                     window: int = 3) -> jax.Array:
  """A hand-made policy for a learned one to beat: look next at the centre of the brightest
  `window`×`window` blocks of the coarsest scale of the glimpse `rho` `[B, K, size, size, C]`
  taken at `locations` `[B, 2]`, i.e. at the biggest blob of ink it sees. -> `[B, 2]` locations."""
  coarsest = rho[:, -1].sum(-1)  # [B, size, size], block means of the widest patch.
  block, size = 2 ** (rho.shape[1] - 1), rho.shape[2]
  sums = jax.lax.reduce_window(coarsest, 0.0, jax.lax.add, (1, window, window), (1, 1, 1), "VALID")
  best = jnp.argmax(sums.reshape(sums.shape[0], -1), -1)  # Row-major: the first of equal sums.
  corner = jnp.stack([best // sums.shape[2], best % sums.shape[2]], -1)
  patch_start = glimpse.location_to_pixel(locations, *image_hw) - size * block // 2
  pixel = patch_start + corner * block + window * block / 2
  return jnp.clip(glimpse.pixel_to_location(pixel, *image_hw), -1.0, 1.0)


def policy_stats(model, params, config: ConfigDict, task: data.Task, test_images, test_labels,
                 num_images: int = 1000) -> dict:
  """Does the deterministic policy find the digit (Fig. 6: "reliably find and explore around the
  object")? Per glimpse, over the first `num_images` test images (which are harder than the
  average, so `error` is above the full test set's): the median pixel distance from its centre to
  the digit's centre, and the fraction centred inside the digit's 28×28 box. Three references a
  policy should beat: glimpse 1, which is random; `image_centre`, the same two numbers for
  glimpses fixed on the image's centre (digits are placed uniformly, so on 60×60 that alone is on
  the digit ~76% of the time, on 100×100 ~15%); and `brightest_window`, the hand-made policy of
  that name (the information a policy needs is in the glimpses when it finds the digit); each
  with the error the run's classifier makes when its glimpses 2..T are placed that way.
  `error_glimpses_on_digit` is the error with glimpses 2..T all centred on the digit: when it is
  not far below `error`, the classifier has not learned to use a view of the digit, so a better
  policy alone would not help it."""
  seed = jax.random.PRNGKey(config.eval_seed + 17)
  index = jnp.arange(num_images)
  images, labels = data.make_eval_batch(seed, index, test_images, test_labels, task)
  model_key = jax.random.PRNGKey(config.eval_seed + 18)
  outputs = model.apply({"params": params}, images, model_key, deterministic=True)
  height, width = task.image_shape[:2]
  centres = data.eval_digit_centres(seed, index, task)
  offsets = offsets_from_digit(np.asarray(outputs["locations"]), np.asarray(centres), height, width)
  oracle = apply_with_glimpses_at(model, params, images, model_key,
                                  glimpse.pixel_to_location(centres, height, width))
  image_centre = np.zeros((num_images, 1, 2), np.float32)  # Location (0, 0), for glimpses 2..T.
  centre_gaze = apply_with_glimpses_at(model, params, images, model_key, image_centre[:, 0])
  blob = apply_with_policy(model, params, images, model_key,
                           lambda out: brightest_window(out["glimpse"], out["location"],
                                                        (height, width)))
  blob_offsets = offsets_from_digit(np.asarray(blob["locations"]), np.asarray(centres), height,
                                    width)
  per_glimpse = lambda x: [round(float(v), 3) for v in x]
  error = lambda logits: float(np.mean(np.argmax(logits, -1) != np.asarray(labels)))
  centre_offsets = offsets_from_digit(image_centre, np.asarray(centres), height, width)[:, 0]
  median_distance = lambda o: np.median(np.hypot(*np.moveaxis(o, -1, 0)), 0)
  fraction_on_digit = lambda o: np.mean(np.all(np.abs(o) <= data.DIGIT // 2, axis=-1), axis=0)
  return {"num_test_images": num_images,
          "error": error(outputs["logits"]),
          "error_glimpses_on_digit": error(oracle["logits"]),
          "median_distance_px": per_glimpse(median_distance(offsets)),
          "fraction_on_digit": per_glimpse(fraction_on_digit(offsets)),
          "image_centre": {"median_distance_px": round(float(median_distance(centre_offsets)), 3),
                           "fraction_on_digit": round(float(fraction_on_digit(centre_offsets)), 3),
                           "error": error(centre_gaze["logits"])},
          "brightest_window": {"median_distance_px": per_glimpse(median_distance(blob_offsets)),
                               "fraction_on_digit": per_glimpse(fraction_on_digit(blob_offsets)),
                               "error": error(blob["logits"])}}
