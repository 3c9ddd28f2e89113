"""MNIST loading (idx .gz, tfds mock) and the translated / cluttered task generators."""
import gzip
import os
import struct

import jax
import numpy as np
import pytest

from ram_jax import data, glimpse, train


def write_idx(path, array):
  array = np.asarray(array, np.uint8)
  header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.tobytes())


def write_mnist(directory, num_train=60, num_test=20, seed=0):
  """Tiny synthetic MNIST in the canonical file layout; returns the arrays written."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  arrays = {}
  for split, n in (("train", num_train), ("test", num_test)):
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    images_file, labels_file = data.IDX_FILES[split]
    write_idx(os.path.join(directory, images_file), images)
    write_idx(os.path.join(directory, labels_file), labels)
    arrays[split] = (images, labels)
  return arrays


def test_load_idx_and_split(tmp_path):
  arrays = write_mnist(tmp_path, num_train=60, num_test=20)
  splits = data.load_mnist(str(tmp_path), num_validation=15)
  np.testing.assert_array_equal(splits["train"][0], arrays["train"][0][:45])
  np.testing.assert_array_equal(splits["validation"][1], arrays["train"][1][45:])
  np.testing.assert_array_equal(splits["test"][0], arrays["test"][0])
  assert splits["train"][1].dtype == np.int32


def test_bad_files(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    data.load_mnist(str(tmp_path / "nowhere"))
  with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
    write_mnist(tmp_path)
    os.remove(tmp_path / "t10k-images-idx3-ubyte.gz")
    data.load_mnist(str(tmp_path))
  path = tmp_path / "train-images-idx3-ubyte.gz"
  raw = path.read_bytes()
  path.write_bytes(raw[:len(raw) // 2])  # Truncated download.
  with pytest.raises(ValueError, match="truncated or corrupt"):
    data.read_idx(str(path))
  path.write_bytes(b"not a gzip file at all")
  with pytest.raises(ValueError, match="truncated or corrupt"):
    data.read_idx(str(path))
  with gzip.open(path, "wb") as f:
    f.write(b"\x00\x00\x0d\x03" + b"\x00" * 20)  # Wrong dtype code.
  with pytest.raises(ValueError, match="bad magic"):
    data.read_idx(str(path))
  write_idx(path, np.zeros((3, 28, 28)))
  with gzip.open(path, "rb") as f:
    full = f.read()
  with gzip.open(path, "wb") as f:
    f.write(full[:-5])  # Valid gzip, but fewer pixels than the header promises.
  with pytest.raises(ValueError, match="header promises"):
    data.read_idx(str(path))


@pytest.mark.skipif(not os.environ.get("MNIST_DIR"), reason="set MNIST_DIR to the real MNIST idx files")
def test_real_mnist():
  splits = data.load_mnist(os.environ["MNIST_DIR"])
  assert [splits[s][0].shape for s in ("train", "validation", "test")] == [
      (50000, 28, 28), (10000, 28, 28), (10000, 28, 28)]
  counts = np.bincount(splits["test"][1], minlength=10)
  assert counts.sum() == 10000 and counts.min() > 850  # Every digit is well represented.
  assert splits["train"][0].max() == 255 and splits["train"][0].min() == 0


def test_tfds_fallback_with_mock_data():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=12):
    splits = data.load_mnist(None, num_validation=2)
  assert splits["train"][0].shape == (10, 28, 28) and splits["validation"][0].shape == (2, 28, 28)
  assert splits["test"][0].dtype == np.uint8 and splits["test"][1].shape == (12,)


def _blocks(num=30):
  """Digit 0 is a 28x28 block of 200, every other digit a block of 50."""
  images = np.full((num, 28, 28), 50, np.uint8)
  images[0] = 200
  return images, np.arange(num, dtype=np.int32) % 10


def test_translated_places_whole_digit_uniformly():
  images, labels = _blocks()
  task = data.Task("translated", canvas=40)
  make = jax.jit(lambda k: data.make_example(k, 0, images, task))
  corners = []
  for seed in range(200):
    canvas = np.asarray(make(jax.random.PRNGKey(seed)))[..., 0]
    rows, cols = np.nonzero(canvas)
    assert len(rows) == 28 * 28 and np.allclose(canvas[rows, cols], 200 / 255)
    assert rows.max() - rows.min() == 27 and cols.max() - cols.min() == 27
    corners.append((rows.min(), cols.min()))
  corners = np.array(corners)
  assert corners.min() == 0 and corners.max() == 12  # Positions 0..12 all reachable.
  assert abs(corners.mean() - 6) < 1.0


def test_cluttered_adds_pieces_of_other_digits():
  images, labels = _blocks()
  task = data.Task("cluttered", canvas=60, num_clutter=4)
  make = jax.jit(lambda k: data.make_example(k, 0, images, task))
  visible = []
  for seed in range(50):
    canvas = np.round(np.asarray(make(jax.random.PRNGKey(seed)))[..., 0] * 255).astype(int)
    # The whole digit, never covered (pixelwise max) and never cloned as clutter.
    assert (canvas == 200).sum() == 28 * 28
    assert set(np.unique(canvas)) <= {0, 50, 200}
    visible.append((canvas == 50).sum())  # Four 8x8 pieces, some hidden under digit or each other.
  assert max(visible) <= 4 * 64 and max(visible) == 4 * 64
  assert np.mean(visible) > 2 * 64


def test_batches_fresh_and_eval_fixed():
  images, labels = _blocks()
  task = data.Task("cluttered", canvas=40, num_clutter=2)
  batch = jax.jit(lambda k: data.make_batch(k, images, labels, 16, task))
  x1, y1 = batch(jax.random.PRNGKey(0))
  x2, _ = batch(jax.random.PRNGKey(1))
  assert x1.shape == (16, 40, 40, 1) and y1.shape == (16,)
  assert not np.allclose(x1, x2)
  seed = jax.random.PRNGKey(7)
  a, ya = data.make_eval_batch(seed, np.arange(8), images, labels, task)
  b, yb = data.make_eval_batch(seed, np.arange(4, 12), images, labels, task)
  np.testing.assert_array_equal(a[4:], b[:4])  # Example i is the same in any batch.
  np.testing.assert_array_equal(ya, labels[:8])


def test_eval_digit_centres_are_the_centres_of_the_digits_drawn():
  # Digit i is a full 28x28 block of value 100 + i, so clutter (other digits) never matches it.
  images = (100 + np.arange(12, dtype=np.uint8))[:, None, None] * np.ones((1, 28, 28), np.uint8)
  labels = np.zeros(12, np.int32)
  for task in (data.Task("cluttered", canvas=60, num_clutter=4), data.Task("centered")):
    seed, index = jax.random.PRNGKey(3), np.arange(12)
    x, _ = data.make_eval_batch(seed, index, images, labels, task)
    centres = np.asarray(data.eval_digit_centres(seed, index, task))
    for i, (image, centre) in enumerate(zip(np.round(np.asarray(x)[..., 0] * 255), centres)):
      rows, cols = np.nonzero(image == 100 + i)
      assert np.ptp(rows) == np.ptp(cols) == 27  # Clutter may cover some of it, not a whole edge.
      # Pixels r0..r0+27 span pixel edges r0..r0+28: the centre edge is r0 + 14.
      np.testing.assert_array_equal(centre, [rows.min() + 14, cols.min() + 14])


def test_batch_digit_centres_are_the_centres_of_the_training_digits_drawn():
  # Digit i is a full 28x28 block of value 100 + i and has label i, so the label names it.
  images = (100 + np.arange(12, dtype=np.uint8))[:, None, None] * np.ones((1, 28, 28), np.uint8)
  labels = np.arange(12, dtype=np.int32)
  task, key = data.Task("cluttered", canvas=60, num_clutter=4), jax.random.PRNGKey(5)
  x, y = data.make_batch(key, images, labels, 16, task)
  centres = np.asarray(data.batch_digit_centres(key, 16, task))
  assert len(np.unique(centres, axis=0)) > 8  # Positions vary across the batch.
  for image, label, centre in zip(np.round(np.asarray(x)[..., 0] * 255), np.asarray(y), centres):
    rows, cols = np.nonzero(image == 100 + label)
    assert np.ptp(rows) == np.ptp(cols) == 27
    np.testing.assert_array_equal(centre, [rows.min() + 14, cols.min() + 14])
  # The train step's targets: the same centres as locations, each image twice in a row.
  targets = train.digit_locations(key, 32, 2, task)
  np.testing.assert_array_equal(glimpse.location_to_pixel(targets, 60, 60),
                                np.repeat(centres, 2, axis=0))


@pytest.mark.parametrize("kwargs,message", [
    (dict(name="shifted"), "unknown task"), (dict(name="centered", canvas=60), "centered task is 28x28"),
    (dict(name="translated", canvas=20), "smaller than a 28x28"),
    (dict(name="translated", canvas=60, num_clutter=4), "needs task 'cluttered'")])
def test_bad_tasks(kwargs, message):
  with pytest.raises(ValueError, match=message):
    data.Task(**kwargs)
