"""The grain/tfds input pipelines of the classifiers (s3ta_jax/input_pipeline.py), offline: tfds
mock ImageNet through `tfds.data_source`, and RAM's cluttered MNIST from synthetic digits."""
import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from ram_jax import data as ram_data
from s3ta_jax import input_pipeline as ip


@pytest.fixture(scope="module")
def mock_imagenet():
  with tfds.testing.mock_data(num_examples=24, policy=tfds.testing.MockPolicy.USE_CODE):
    yield ip.imagenet(32)


def test_imagenet_batches_have_the_right_shapes_and_range(mock_imagenet):
  assert mock_imagenet.num_classes == 1000
  batch = next(iter(ip.train_loader(mock_imagenet, 8, seed=0)))
  assert batch["image"].shape == (8, 32, 32, 3) and batch["image"].dtype == np.uint8
  assert batch["label"].shape == (8,) and batch["label"].dtype == np.int32
  assert 0 <= batch["label"].min() and batch["label"].max() < 1000
  evaluation = list(ip.eval_batches(mock_imagenet, 10))
  assert [b["image"].shape for b in evaluation] == [(10, 32, 32, 3)] * 3
  assert sum(b["mask"].sum() for b in evaluation) == 24  # 6 padding examples in the last batch.


def test_training_augmentation_is_random_and_evaluation_is_not(mock_imagenet):
  record = mock_imagenet.train_source[0]
  augment = ip.TrainAugment(32)
  draws = [augment.random_map(record, np.random.default_rng(s))["image"] for s in range(4)]
  assert all(d.shape == (32, 32, 3) for d in draws)
  assert len({d.tobytes() for d in draws}) == 4
  again = [augment.random_map(record, np.random.default_rng(0))["image"]]
  np.testing.assert_array_equal(again[0], draws[0])  # Random only through grain's generator.
  first = [b["image"] for b in ip.eval_batches(mock_imagenet, 8)]
  second = [b["image"] for b in ip.eval_batches(mock_imagenet, 8)]
  np.testing.assert_array_equal(np.concatenate(first), np.concatenate(second))


def test_inception_crop_boxes_respect_area_and_aspect():
  rng = np.random.default_rng(0)
  for _ in range(500):
    top, left, h, w = ip.inception_crop_box(rng, 120, 90)
    assert 0 <= top and top + h <= 120 and 0 <= left and left + w <= 90
    # Rounding to whole pixels moves area and aspect a little past their ranges.
    assert 0.08 * 0.9 <= h * w / (120 * 90) <= 1.0
    assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
  # A 1-pixel-high strip can hold no crop of aspect <= 4/3 beyond the fallback: centre crop.
  assert ip.inception_crop_box(rng, 1, 50) == (0, 24, 1, 1)


def test_center_crop_keeps_the_centre():
  image = np.zeros((100, 200, 3), np.uint8)
  image[40:60, 90:110] = 255  # A square at the centre.
  out = ip.center_crop(image, 64)
  assert out.shape == (64, 64, 3)
  rows, cols = np.nonzero(out[..., 0] > 128)
  assert abs(rows.mean() - 31.5) < 1 and abs(cols.mean() - 31.5) < 1
  # Short side 100 -> 64 / 0.875 = 73: the square's 20 px become ~14.6 px.
  assert 13 <= rows.max() - rows.min() + 1 <= 16


def _digits(n=30, seed=0):
  rng = np.random.default_rng(seed)
  digits = np.zeros((n, 28, 28), np.uint8)
  digits[:, 6:22, 10:18] = rng.integers(100, 256, (n, 16, 8))
  return digits, rng.integers(0, 10, n)


def test_clutter_puts_the_whole_digit_in_its_box():
  digits, labels = _digits()
  source = ip.ArraySource(image=digits, label=labels)
  clutter = ip.Clutter(digits, canvas=60, num_clutter=4)
  tops = []
  for i in range(30):
    out = clutter.random_map(source[i], np.random.default_rng(i))
    top, left = out["box"]
    tops.append(top)
    assert out["image"].shape == (60, 60, 1) and out["label"] == labels[i]
    window = out["image"][top:top + 28, left:left + 28, 0]
    assert np.all(window >= digits[i])  # Composed by maximum: clutter never erases the digit.
    outside = out["image"][..., 0].astype(int).sum() - window.astype(int).sum()
    assert outside <= 4 * 64 * 255  # At most four 8x8 pieces outside the box.
  assert min(tops) >= 0 and max(tops) <= 32 and len(set(tops)) > 10


def test_cluttered_test_set_is_rams():
  digits, labels = _digits(12, seed=1)
  test = ip.ram_test_canvases(digits, labels, canvas=60, num_clutter=4, seed=99, batch_size=5)
  task = ram_data.Task("cluttered", 60, 4)
  index = np.arange(12)
  want, _ = ram_data.make_eval_batch(jax.random.PRNGKey(99), index, digits, labels, task)
  np.testing.assert_array_equal(test["image"], np.round(np.asarray(want) * 255).astype(np.uint8))
  for image, digit, (top, left) in zip(test["image"], digits, test["box"]):
    assert np.all(image[top:top + 28, left:left + 28, 0] >= digit)


def _as_process(monkeypatch, index, count):
  monkeypatch.setattr(jax, "process_index", lambda: index)
  monkeypatch.setattr(jax, "process_count", lambda: count)


def test_two_processes_read_disjoint_shards(monkeypatch):
  pipeline = ip.Pipeline(ip.ArraySource(label=np.arange(20)), [], ip.ArraySource(label=np.arange(11)),
                         [], 20, (1, 1, 1))
  seen, evaluated, counts = [], [], []
  for process in (0, 1):
    _as_process(monkeypatch, process, 2)
    loader = iter(ip.train_loader(pipeline, global_batch=4, seed=3))
    seen.append({int(i) for _ in range(5) for i in next(loader)["index"]})  # One epoch: 10 each.
    batches = list(ip.eval_batches(pipeline, global_batch=4))
    counts.append(len(batches))
    evaluated.append([int(i) for b in batches for i, m in zip(b["index"], b["mask"]) if m])
  assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(20))
  assert counts[0] == counts[1]  # Collective evaluation steps line up.
  assert not set(evaluated[0]) & set(evaluated[1])
  assert sorted(evaluated[0] + evaluated[1]) == list(range(11))


def test_iterator_state_reproduces_the_batch_sequence():
  digits, labels = _digits()
  pipeline = ip.Pipeline(ip.ArraySource(image=digits, label=labels), [ip.Clutter(digits)], None,
                         [], 10, (60, 60, 1))
  iterator = iter(ip.train_loader(pipeline, 4, seed=7))
  for _ in range(3):
    next(iterator)
  state = iterator.get_state()
  expected = [next(iterator) for _ in range(4)]  # Crosses an epoch boundary (30 records).
  resumed = iter(ip.train_loader(pipeline, 4, seed=7))
  resumed.set_state(state)
  for want in expected:
    got = next(resumed)
    np.testing.assert_array_equal(got["image"], want["image"])
    np.testing.assert_array_equal(got["label"], want["label"])
  fresh = next(iter(ip.train_loader(pipeline, 4, seed=8)))
  assert not np.array_equal(fresh["image"], expected[0]["image"])


def test_uneven_batch_across_processes_is_an_error(monkeypatch):
  _as_process(monkeypatch, 0, 3)
  with pytest.raises(ValueError, match="divide evenly"):
    ip.process_batch_size(8)


def test_each_epoch_draws_new_clutter_and_workers_do_not_change_the_batches():
  digits, labels = _digits(8)
  pipeline = ip.Pipeline(ip.ArraySource(image=digits, label=labels), [ip.Clutter(digits)], None,
                         [], 10, (60, 60, 1))
  iterator = iter(ip.train_loader(pipeline, 8, seed=1))
  first, second = next(iterator), next(iterator)  # Two epochs of the 8 records.
  assert sorted(first["label"]) == sorted(second["label"])
  assert not np.array_equal(np.sort(first["image"].reshape(8, -1), 0),
                            np.sort(second["image"].reshape(8, -1), 0))
  with_worker = iter(ip.train_loader(pipeline, 8, seed=1, worker_count=1))
  np.testing.assert_array_equal(next(with_worker)["image"], first["image"])


def test_more_processes_than_evaluation_shards_still_count_each_example_once(monkeypatch):
  pipeline = ip.Pipeline(None, [], ip.ArraySource(label=np.arange(5)), [], 5, (1, 1, 1))
  seen, batches = [], []
  for process in range(4):  # Shards of 2, 2, 1 and 0 records.
    _as_process(monkeypatch, process, 4)
    out = list(ip.eval_batches(pipeline, global_batch=8))
    batches.append(len(out))
    seen += [int(i) for b in out for i, m in zip(b["index"], b["mask"]) if m]
  assert batches == [1, 1, 1, 1] and sorted(seen) == list(range(5))
