"""MNIST and the RAM paper's MNIST-family tasks (Mnih et al. 2014, sec. 4.1), generated on device.

Source: the canonical idx `.gz` files (`train-images-idx3-ubyte.gz`, ...) in a directory, or, without
one, tensorflow-datasets' array-record `data_source` (needs MNIST already prepared by tfds).
Split: the last `num_validation` (default 10,000, so 50,000 train as in the paper: "50000 (the size of
the MNIST training set)") of the 60,000 training digits are the validation set; the 10,000 test
digits are the test set.

Tasks (all images `[H, W, 1]` float32 in [0, 1]):
  centered     the 28×28 digit;
  translated   the digit at a uniformly random position of a blank `canvas × canvas` image;
  cluttered    translated, plus `num_clutter` random 8×8 crops of random *other* digits of the same
               split at uniformly random positions (pixelwise max, so values stay in [0, 1]):
               60×60 with 4 pieces, 100×100 with 8 in the paper.
Training batches are drawn inside jit (digits sampled with replacement, fresh positions and clutter
every batch). Evaluation example `i` is generated from `fold_in(seed, i)`, so every evaluation (at
any batch size, on any number of devices) sees exactly the same images.
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import struct
import zlib

import chex
import jax
import jax.numpy as jnp
import numpy as np

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DIGIT = 28


def read_idx(path: str) -> np.ndarray:
  """Reads one gzipped idx file (LeCun's MNIST format) into a numpy array; ValueError if corrupt."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"MNIST file {path} not found; the data dir must hold the four "
                            f"canonical idx .gz files ({', '.join(sum(IDX_FILES.values(), ()))}).")
  try:
    with gzip.open(path, "rb") as f:
      raw = f.read()
  except (OSError, EOFError, zlib.error) as e:
    raise ValueError(f"{path} is not a readable gzip file ({e}); it is truncated or corrupt: "
                     "download it again.") from None
  if len(raw) < 8:
    raise ValueError(f"{path} is too short to be an idx file; download it again.")
  zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
  if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
    raise ValueError(f"{path} is not an MNIST idx file (bad magic number); download it again.")
  dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
  expected = 4 + 4 * ndim + int(np.prod(dims))
  if len(raw) != expected:
    raise ValueError(f"{path} holds {len(raw)} bytes but its header promises {expected}; it is "
                     "truncated or corrupt: download it again.")
  return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _load_split_idx(data_dir: str, split: str):
  images_file, labels_file = IDX_FILES[split]
  images = read_idx(os.path.join(data_dir, images_file))
  labels = read_idx(os.path.join(data_dir, labels_file))
  if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
    raise ValueError(f"MNIST {split} files in {data_dir} disagree: images {images.shape}, "
                     f"labels {labels.shape}; download them again.")
  return images, labels.astype(np.int32)


def _load_split_tfds(split: str):
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    source = tfds.data_source("mnist", split=split)
    records = [source[i] for i in range(len(source))]
  except Exception as e:  # tfds raises many kinds (missing TF, no network, not prepared).
    raise ValueError(
        f"no data_dir given and tensorflow-datasets could not load MNIST ({type(e).__name__}: "
        f"{str(e)[:200]}). Pass --config.data_dir=DIR with the four MNIST idx .gz files, or "
        "prepare MNIST with tensorflow-datasets (needs tensorflow installed).") from None
  images = np.stack([np.asarray(r["image"]).reshape(DIGIT, DIGIT) for r in records]).astype(np.uint8)
  labels = np.asarray([int(r["label"]) for r in records], np.int32)
  return images, labels


def load_mnist(data_dir: str | None, num_validation: int = 10_000) -> dict:
  """Returns `{'train'|'validation'|'test': (uint8 [N, 28, 28], int32 [N])}`.

  `data_dir` holds the idx `.gz` files; None falls back to `tfds.data_source('mnist')`.
  """
  if data_dir:
    if not os.path.isdir(data_dir):
      raise FileNotFoundError(f"MNIST data_dir {data_dir} does not exist; point it at the "
                              "directory holding the four MNIST idx .gz files.")
    train = _load_split_idx(data_dir, "train")
    test = _load_split_idx(data_dir, "test")
  else:
    train = _load_split_tfds("train")
    test = _load_split_tfds("test")
  n = train[0].shape[0]
  if not 0 <= num_validation < n:
    raise ValueError(f"num_validation must be in [0, {n}), got {num_validation}.")
  cut = n - num_validation
  return {"train": (train[0][:cut], train[1][:cut]),
          "validation": (train[0][cut:], train[1][cut:]), "test": test}


@dataclasses.dataclass(frozen=True)
class Task:
  """Which MNIST-family images to make: `canvas`×`canvas`, `num_clutter` 8×8 pieces of clutter."""
  name: str = "centered"  # centered | translated | cluttered
  canvas: int = DIGIT
  num_clutter: int = 0
  clutter_size: int = 8

  def __post_init__(self):
    if self.name not in ("centered", "translated", "cluttered"):
      raise ValueError(f"unknown task {self.name!r}; use centered, translated or cluttered.")
    if self.name == "centered" and self.canvas != DIGIT:
      raise ValueError(f"the centered task is 28x28; got canvas {self.canvas} (use 'translated').")
    if self.canvas < DIGIT:
      raise ValueError(f"canvas {self.canvas} is smaller than a 28x28 digit.")
    if self.name != "cluttered" and self.num_clutter:
      raise ValueError(f"num_clutter={self.num_clutter} needs task 'cluttered'.")
    if not 1 <= self.clutter_size <= DIGIT:
      raise ValueError(f"clutter_size must be in [1, 28], got {self.clutter_size}.")

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return (self.canvas, self.canvas, 1)


def digit_corner(key: chex.PRNGKey, task: Task) -> chex.Array:
  """`(row, col)` of the top-left pixel of the digit in `make_example(key, ...)`'s image."""
  if task.name == "centered":
    return jnp.zeros((2,), jnp.int32)
  position_key = jax.random.split(key, 1 + 4 * task.num_clutter)[0]
  return jax.random.randint(position_key, (2,), 0, task.canvas - DIGIT + 1)


def make_example(key: chex.PRNGKey, index: chex.Array, images: chex.Array, task: Task) -> chex.Array:
  """One task image `[canvas, canvas, 1]` float32 in [0, 1] for digit `images[index]` (uint8)."""
  images = jnp.asarray(images)
  digit = images[index]
  if task.name == "centered":
    return digit[..., None].astype(jnp.float32) / 255.0
  keys = jax.random.split(key, 1 + 4 * task.num_clutter)
  pos = digit_corner(key, task)
  blank = jnp.zeros((task.canvas, task.canvas), jnp.uint8)
  canvas = jax.lax.dynamic_update_slice(blank, digit, (pos[0], pos[1]))
  n, c = images.shape[0], task.clutter_size
  for j in range(task.num_clutter):
    k_other, k_crop, k_pos = keys[1 + 4 * j:4 + 4 * j]
    other = (index + 1 + jax.random.randint(k_other, (), 0, n - 1)) % n  # Never the digit itself.
    crop = jax.random.randint(k_crop, (2,), 0, DIGIT - c + 1)
    piece = jax.lax.dynamic_slice(images[other], (crop[0], crop[1]), (c, c))
    at = jax.random.randint(k_pos, (2,), 0, task.canvas - c + 1)
    canvas = jnp.maximum(canvas, jax.lax.dynamic_update_slice(blank, piece, (at[0], at[1])))
  return canvas[..., None].astype(jnp.float32) / 255.0


def make_batch(key: chex.PRNGKey, images: chex.Array, labels: chex.Array, batch_size: int,
               task: Task):
  """A fresh training batch (jit-able): digits drawn with replacement. -> (`[B, H, W, 1]`, `[B]`)."""
  images, labels = jnp.asarray(images), jnp.asarray(labels)
  index_key, keys = _batch_keys(key, batch_size)
  index = jax.random.randint(index_key, (batch_size,), 0, images.shape[0])
  return jax.vmap(make_example, in_axes=(0, 0, None, None))(keys, index, images, task), labels[index]


def batch_digit_centres(key: chex.PRNGKey, batch_size: int, task: Task) -> chex.Array:
  """`[B, 2]` (row, col) pixel-edge centres of the digits of `make_batch(key, ..., batch_size,
  task)`."""
  keys = _batch_keys(key, batch_size)[1]
  return jax.vmap(digit_corner, in_axes=(0, None))(keys, task) + DIGIT // 2


def _batch_keys(key: chex.PRNGKey, batch_size: int):
  """`make_batch`'s key for drawing digits, and one key per example."""
  index_key, example_key = jax.random.split(key)
  return index_key, jax.random.split(example_key, batch_size)


def _eval_keys(seed: chex.PRNGKey, index: chex.Array) -> chex.Array:
  """Evaluation example i's key, `fold_in(seed, i)`, so it does not depend on batching."""
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(seed, index)


def make_eval_batch(seed: chex.PRNGKey, index: chex.Array, images: chex.Array, labels: chex.Array,
                    task: Task):
  """Evaluation examples `index` (`[B]` ints): example i always uses `fold_in(seed, i)`."""
  images, labels = jnp.asarray(images), jnp.asarray(labels)
  keys = _eval_keys(seed, index)
  return jax.vmap(make_example, in_axes=(0, 0, None, None))(keys, index, images, task), labels[index]


def eval_digit_centres(seed: chex.PRNGKey, index: chex.Array, task: Task) -> chex.Array:
  """`[B, 2]` (row, col) pixel-edge centres of the digits of `make_eval_batch(seed, index, ...)`."""
  return jax.vmap(digit_corner, in_axes=(0, None))(_eval_keys(seed, index), task) + DIGIT // 2
