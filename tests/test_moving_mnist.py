"""The moving-digits task (s3ta_jax/moving_mnist.py) against its description."""
import numpy as np

from s3ta_jax import moving_mnist


def test_the_digit_moves_in_a_straight_line_over_static_clutter_and_the_label_names_its_way():
  rng = np.random.default_rng(0)
  digits = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
  small = moving_mnist.downsample(digits)
  np.testing.assert_array_equal(small[0, 0, 0], digits[0, :2, :2].astype(float).mean().astype(np.uint8))
  pool = np.zeros_like(small)  # Black clutter, so the digit is all that is drawn...
  seen = set()
  for i in range(40):
    digit = np.full((14, 14), 200, np.uint8)
    frames, label, path = moving_mnist.make_clip(rng, digit, 3, pool)
    assert frames.shape == (6, 32, 32)
    vx, vy = np.diff(path["x"]), np.diff(path["y"])
    assert len(set(vx)) == 1 and abs(vx[0]) in (2, 3) and len(set(vy)) == 1 and abs(vy[0]) <= 1
    assert label == 3 + 10 * (vx[0] > 0)
    assert moving_mnist.LABEL_NAMES[label] == f"3_{'right' if vx[0] > 0 else 'left'}"
    for t in range(6):  # ...wholly inside the canvas, where the path says.
      ys, xs = np.nonzero(frames[t])
      assert (ys.min(), xs.min(), ys.max(), xs.max()) == (
          path["y"][t], path["x"][t], path["y"][t] + 13, path["x"][t] + 13)
    seen.add(label)
  assert seen == {3, 13}  # Both directions occur.
  frames, _, path = moving_mnist.make_clip(rng, np.zeros((14, 14), np.uint8), 0, small)
  assert np.any(frames[0]) and all(np.array_equal(f, frames[0]) for f in frames)  # Static clutter.
