"""Moving digits in clutter: a Kinetics-shaped task from real MNIST that needs memory and attention.

Each clip has `num_frames` frames of `canvas` x `canvas` pixels (defaults 6 and 32), grey, stored as
RGB MP4 files and a Kinetics-style CSV, then built by `s3ta_jax.kinetics` like a real release:

- the digit: one MNIST digit, downsampled 2x to 14x14 (mean of 2x2 blocks), moving in a straight
  line: horizontal speed 2 or 3 px per frame, to the left or to the right (each with probability
  1/2), vertical speed -1, 0 or +1 px per frame; its start is uniform over the positions that keep
  it wholly inside the canvas on every frame;
- clutter: `num_clutter` (default 3) static 5x5 pieces cut at random from random downsampled
  digits of the same split, pasted (pixel-wise max) at uniform positions, the same on every frame;
- the label: digit + 10 x [moving right], 20 classes (names like `7_right`). One frame shows the
  digit but not its direction, so a model must remember across frames; the digit covers ~20% of
  the canvas among clutter, so where to look matters.

The MP4 and JPEG steps are lossy, as for real video: frames read back differ from the generated
ones by ~2 grey levels on average (up to ~150 on a few stroke-edge pixels).

Training clips use the first 50k MNIST training digits (and their clutter); test clips the 10k
test digits (and clutter from the test digits). `seed` fixes everything: the same call writes the
same clips. `python -m launch.prepare_moving_mnist` writes and builds the dataset.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

LABEL_NAMES = tuple(f"{d}_{w}" for w in ("left", "right") for d in range(10))


@dataclasses.dataclass(frozen=True)
class Task:
  canvas: int = 32
  num_frames: int = 6
  num_clutter: int = 3
  clutter_size: int = 5
  speeds: tuple[int, ...] = (2, 3)


def downsample(digits: np.ndarray) -> np.ndarray:
  """[N, 28, 28] uint8 -> [N, 14, 14] uint8, the mean of each 2x2 block."""
  n = digits.shape[0]
  return digits.reshape(n, 14, 2, 14, 2).astype(np.float32).mean(axis=(2, 4)).astype(np.uint8)


def make_clip(rng: np.random.Generator, digit: np.ndarray, label: int, pool: np.ndarray,
              task: Task = Task()) -> tuple[np.ndarray, int, dict]:
  """-> (frames uint8 [F, canvas, canvas], class index, path {"x": [F], "y": [F]}) for one
  14x14 `digit`; clutter pieces come from the 14x14 digits of `pool`."""
  size, c, f = digit.shape[0], task.canvas, task.num_frames
  right = rng.random() < 0.5
  vx = int(rng.choice(task.speeds)) * (1 if right else -1)
  vy = int(rng.integers(-1, 2))
  room = c - size
  x0 = int(rng.integers(max(0, -vx * (f - 1)), room - max(0, vx * (f - 1)) + 1))
  y0 = int(rng.integers(max(0, -vy * (f - 1)), room - max(0, vy * (f - 1)) + 1))
  background = np.zeros((c, c), np.uint8)
  k = task.clutter_size
  for _ in range(task.num_clutter):
    piece = pool[rng.integers(len(pool))]
    py, px = rng.integers(0, size - k + 1, 2)
    y, x = rng.integers(0, c - k + 1, 2)
    region = background[y:y + k, x:x + k]
    np.maximum(region, piece[py:py + k, px:px + k], out=region)
  frames = np.repeat(background[None], f, axis=0)
  xs, ys = x0 + vx * np.arange(f), y0 + vy * np.arange(f)
  for t in range(f):
    region = frames[t, ys[t]:ys[t] + size, xs[t]:xs[t] + size]
    np.maximum(region, digit, out=region)
  return frames, int(label) + 10 * int(right), {"x": xs, "y": ys}


def write_release(out_dir: str, splits: dict[str, tuple[np.ndarray, np.ndarray]],
                  num_clips: dict[str, int], seed: int, task: Task = Task()) -> None:
  """MP4 clips and one CSV (Kinetics layout) under `out_dir`; `splits` maps "train"/"validate" to
  (uint8 [N, 28, 28] digits, labels). Clip i of a split uses digit i mod N."""
  import av  # pylint: disable=g-import-not-at-top
  os.makedirs(os.path.join(out_dir, "clips"), exist_ok=True)
  rows = ["label,youtube_id,time_start,time_end,split"]
  for split_index, (split, (digits, labels)) in enumerate(sorted(splits.items())):
    small = downsample(digits)
    rng = np.random.default_rng([seed, split_index])
    for i in range(num_clips[split]):
      frames, label, _ = make_clip(rng, small[i % len(small)], labels[i % len(small)], small, task)
      clip_id = f"{split}{i:06d}"
      _write_mp4(av, os.path.join(out_dir, "clips", f"{clip_id}_000000_000001.mp4"), frames)
      rows.append(f"{LABEL_NAMES[label]},{clip_id},0,1,{split}")
  with open(os.path.join(out_dir, "moving_mnist.csv"), "w") as f:
    f.write("\n".join(rows) + "\n")


def _write_mp4(av, path: str, frames: np.ndarray) -> None:
  with av.open(path, "w") as container:
    stream = container.add_stream("mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    stream.options = {"qscale": "2"}  # Near-lossless: the digits' strokes are a few pixels wide.
    for frame in frames:
      rgb = np.repeat(frame[..., None], 3, axis=-1)
      for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
