"""Interpretability tools (s3ta_jax/interpret.py) against numpy references and closed forms."""
import math
import sys

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from s3ta_jax import interpret
from s3ta_jax.agent import AgentOutput
from s3ta_jax.impala import agents


def test_upsample_puts_each_pixel_in_the_cell_of_its_stride():
  maps = np.arange(6.0).reshape(2, 3)  # A 2x3 map over a 7x9 frame: strides 4 and 3.
  up = interpret.upsample(maps, (7, 9))
  for r in range(7):
    for c in range(9):
      assert up[r, c] == maps[min(r // 4, 1), min(c // 3, 2)]


def test_overlay_keeps_the_peak_and_darkens_the_rest_to_the_floor():
  frame = np.full((4, 4, 3), 100, np.uint8)
  att = np.zeros((2, 2))
  att[0, 1], att[1, 1] = 1.0, 0.5
  out = interpret.attention_overlay(frame, att, floor=0.25, glow=40.0)
  assert (out[:2, 2:] == 100 + 40).all()
  assert (out[2:, 2:] == int(100 * (0.25 + 0.75 * 0.5) + 20)).all()
  assert (out[:, :2] == 25).all()


def test_what_where_image_red_for_content_blue_for_space():
  c = np.array([[0.5, -1.0], [0.0, 0.25]])
  image = interpret.what_where_image(c, (2, 2))
  np.testing.assert_array_equal(image[..., 0], [[127, 0], [0, 63]])
  np.testing.assert_array_equal(image[..., 2], [[0, 255], [0, 0]])
  assert (image[..., 1] == 0).all()


def test_marginals_are_row_and_column_sums():
  maps = np.random.default_rng(0).random((3, 2, 4, 5))
  rows, cols = interpret.marginals(maps)
  for idx in np.ndindex(3, 2):
    np.testing.assert_allclose(rows[idx], [maps[idx][i].sum() for i in range(4)])
    np.testing.assert_allclose(cols[idx], [maps[idx][:, j].sum() for j in range(5)])


def test_peak_distance_to_an_object():
  maps = np.zeros((1, 2, 3, 3))
  maps[0, 0, 0, 0] = 1.0  # On the object.
  maps[0, 1, 2, 2] = 1.0  # Two rows and two columns away from it.
  mask = np.zeros((1, 6, 6), bool)
  mask[0, 0:2, 0:2] = True  # Pixels of cell (0, 0) of a 3x3 map over 6x6.
  d = interpret.peak_distance(maps, mask)
  np.testing.assert_allclose(d, [[0.0, math.sqrt(8)]])
  with pytest.raises(ValueError, match="object in every frame"):
    interpret.peak_distance(maps, np.zeros_like(mask))


def test_masks_and_blur_match_closed_forms():
  masks, centres = interpret.perturbation_masks((10, 12), stride=5, sigma=2.0)
  assert centres.tolist() == [[2, 2], [2, 7], [7, 2], [7, 7]]
  r, c = np.mgrid[:10, :12]
  np.testing.assert_allclose(masks[1], np.exp(-((r - 2) ** 2 + (c - 7) ** 2) / 8.0), rtol=1e-6)
  # A constant frame is its own blur; an impulse in the middle blurs to the 2-D Gaussian.
  np.testing.assert_allclose(interpret.gaussian_blur(jnp.full((9, 9, 1), 3.0), 1.0), 3.0,
                             rtol=1e-6)
  impulse = np.zeros((15, 15, 1), np.float32)
  impulse[7, 7] = 1.0
  blurred = np.asarray(interpret.gaussian_blur(jnp.asarray(impulse), 1.0))[..., 0]
  x = np.arange(-3, 4)
  g = np.exp(-0.5 * x ** 2)
  g /= g.sum()
  np.testing.assert_allclose(blurred[4:11, 4:11], np.outer(g, g), atol=1e-6)


def test_saliency_of_a_linear_model_matches_the_closed_form_and_is_zero_where_ignored():
  rng = np.random.default_rng(1)
  h, w = 20, 40
  frame = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
  weights = rng.normal(size=(h, w, 3, 2)).astype(np.float32)
  weights[:, 10:] = 0.0  # The policy ignores every column from 10 on.
  value_weights = rng.normal(size=(h, w, 3)).astype(np.float32)

  def score(frames):
    return (jnp.einsum("khwc,hwca->ka", frames, weights),
            jnp.einsum("khwc,hwc->k", frames, value_weights))

  policy, value, centres = interpret.saliency(score, frame, stride=5, mask_sigma=1.5,
                                              blur_sigma=1.0)
  blurred = np.asarray(interpret.gaussian_blur(jnp.asarray(frame), 1.0))
  masks, _ = interpret.perturbation_masks((h, w), 5, 1.5)
  for k, m in enumerate(masks):
    delta = (blurred - frame) * m[..., None]  # I' - I
    i, j = divmod(k, policy.shape[1])
    np.testing.assert_allclose(policy[i, j], 0.5 * np.sum(np.einsum("hwc,hwca->a", delta,
                                                                    weights) ** 2), rtol=2e-3,
                               atol=1e-6 * policy.max())  # float32 logits: cancellation floor.
    np.testing.assert_allclose(value[i, j], 0.5 * np.sum(delta * value_weights) ** 2, rtol=2e-3,
                               atol=1e-6 * value.max())
  # Masks centred 10+ sigma right of the last used column change nothing the policy reads.
  far = centres[..., 1] >= 10 + 10 * 1.5
  assert far.any() and (policy[far] < 1e-6 * policy.max()).all()


class _SeeingModule:
  """Attention = the red (ball) pixels pooled into an 11x11 map, or a fixed map; policy: stay."""

  def __init__(self, follows_ball: bool):
    self.follows_ball = follows_ball
    rows = interpret.cell_of_pixel(84, 11)
    self.pool = jnp.asarray((rows[:, None] == np.arange(11)[None]).astype(np.float32))  # [84, 11]

  def apply(self, params, obs, prev_action, prev_reward, first, state, method, mutable=()):
    del params, prev_action, prev_reward, first, method
    b = obs.shape[0]
    if self.follows_ball:
      red = (obs[..., 0] > 0).astype(jnp.float32)
      maps = jnp.einsum("bHW,Hh,Ww->bhw", red, self.pool, self.pool) + 1e-6
    else:
      maps = jnp.zeros((b, 11, 11)).at[:, 5, 5].set(1.0) + 1e-6
    maps = maps / maps.sum((1, 2), keepdims=True)
    out = AgentOutput(jnp.zeros((b, 3)).at[:, 1].set(1.0), jnp.zeros(b), maps[:, None])
    return ((out, state), {"intermediates": {}}) if mutable else (out, state)


def _Agent(follows_ball):
  return agents.ImpalaAgent(ml_collections.ConfigDict(), 3, _SeeingModule(follows_ball),
                            lambda b: jnp.zeros((b, 1)), None, (84, 84))


def test_ball_following_scores_a_map_on_the_ball_and_a_fixed_map():
  seeing = interpret.ball_following(_Agent(True), None, steps=40)
  fixed = interpret.ball_following(_Agent(False), None, steps=40)
  # The ball covers 2-3 cells, so the peak moves by about (not exactly) the ball's mean shift.
  assert seeing["peak_to_ball"] == 0.0 and seeing["peak_on_ball_rate"] == 1.0
  assert seeing["moved_follow_rate"] == 1.0 and seeing["moved_shift_cells"] == pytest.approx(1.0, abs=0.1)
  assert fixed["moved_shift_cells"] == 0.0 and fixed["peak_to_ball"] > 1.0
  # The best fixed cell is at least as close as any one fixed cell, and closer than uniform.
  assert fixed["fixed_to_ball"] <= fixed["peak_to_ball"] + 1e-9
  assert seeing["fixed_to_ball"] < seeing["uniform_to_ball"]
  assert seeing["games"] >= 4  # 40 steps of 9-step games.


def test_video_has_one_frame_per_step_and_falls_back_to_gif(tmp_path, monkeypatch):
  from PIL import Image
  rng = np.random.default_rng(2)
  steps, heads = 5, 3
  rec = dict(frames=rng.integers(0, 255, (steps, 8, 6, 3)).astype(np.uint8),
             attention=rng.random((steps, heads, 2, 2)),
             contribution=rng.normal(size=(steps, heads, 2, 2)),
             action=np.arange(steps), value=np.zeros(steps))
  images = interpret.video_frames(rec, scale=2)
  assert len(images) == steps
  # Two rows of panels (attention, what/where), `heads` panels of 6x2 pixels wide, a caption.
  assert images[0].shape == (16 + 2 * 8 * 2, heads * 6 * 2, 3)
  monkeypatch.setitem(sys.modules, "imageio", None)  # As if imageio were not installed.
  path = interpret.write_video(images, str(tmp_path), fps=10)
  assert path.endswith("attention.gif")
  with Image.open(path) as gif:
    assert gif.n_frames == steps
