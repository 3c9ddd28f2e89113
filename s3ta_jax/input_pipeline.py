"""Input pipelines for the S3TA classifiers: grain loaders over random-access sources, no
TensorFlow (tfds's `data_source` reads ArrayRecord files and decodes images with numpy/PIL).

Sources hand out dicts {"image": uint8 [H, W, C], "label": int, ...}. The training loader shuffles
with a seed, repeats forever and applies random augmentation from grain's per-record generator, so
its state (`iterator.get_state()`, saved in the checkpoint) fixes every later batch. The
evaluation loader reads each record once, in order, without randomness, and pads the last batch
(`mask` 0 on the padding). Each JAX process reads its own shard (`grain.ShardByJaxProcess`) and
makes `global_batch / process_count` examples per batch.

ImageNet (`imagenet2012`): Inception-style random-resized crop (area 8-100%, aspect 3/4-4/3),
colour distortion (brightness, contrast, saturation in random order) and horizontal flip for
training; resize to size/0.875 and a centre crop for evaluation (A.3.1 names aspect ratio, colour
distortion and flipping). Cluttered MNIST: RAM's task (ram_jax/data.py), one fresh canvas per
training record and RAM's own fixed test canvases for evaluation.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import grain.python as grain
from absl import flags
import jax
import numpy as np
from PIL import Image, ImageEnhance

CROP_FRACTION = 0.875  # Evaluation: resize to size / 0.875, then a central size x size crop.


# ----------------------------------------------------------------------------- augmentations

def inception_crop_box(rng: np.random.Generator, height: int, width: int,
                       area_range=(0.08, 1.0), aspect_range=(3 / 4, 4 / 3),
                       attempts: int = 10) -> tuple[int, int, int, int]:
  """(top, left, crop_h, crop_w) of a random crop covering `area_range` of the image with a
  log-uniform aspect ratio (Szegedy et al. 2015); the central square-ish crop if 10 tries fail."""
  area = height * width
  log_aspect = np.log(aspect_range)
  for _ in range(attempts):
    target = area * rng.uniform(*area_range)
    aspect = math.exp(rng.uniform(*log_aspect))
    w = int(round(math.sqrt(target * aspect)))
    h = int(round(math.sqrt(target / aspect)))
    if 0 < w <= width and 0 < h <= height:
      return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
  aspect = width / height  # Fallback: the largest centred crop within the aspect range.
  if aspect < aspect_range[0]:
    w, h = width, int(round(width / aspect_range[0]))
  elif aspect > aspect_range[1]:
    h, w = height, int(round(height * aspect_range[1]))
  else:
    h, w = height, width
  return (height - h) // 2, (width - w) // 2, h, w


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bilinear resize of a uint8 [H, W, C] image (PIL, antialiased when shrinking)."""
  squeeze = image.shape[-1] == 1
  pil = Image.fromarray(image[..., 0] if squeeze else image)
  out = np.asarray(pil.resize((width, height), Image.BILINEAR))
  return out[..., None] if squeeze else out


def color_distort(image: np.ndarray, rng: np.random.Generator, strength: float = 0.4) -> np.ndarray:
  """Brightness, contrast and saturation, each by a factor in [1 - s, 1 + s], in random order."""
  pil = Image.fromarray(image)
  enhancers = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]
  for i in rng.permutation(len(enhancers)):
    pil = enhancers[i](pil).enhance(rng.uniform(1 - strength, 1 + strength))
  return np.asarray(pil)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
  """Resize the short side to size / CROP_FRACTION, keep the central size x size."""
  h, w = image.shape[:2]
  short = int(round(size / CROP_FRACTION))
  scale = short / min(h, w)
  new_h, new_w = max(size, int(round(h * scale))), max(size, int(round(w * scale)))
  image = resize(image, new_h, new_w)
  top, left = (new_h - size) // 2, (new_w - size) // 2
  return image[top:top + size, left:left + size]


@dataclasses.dataclass
class TrainAugment(grain.RandomMapTransform):
  """Random-resized crop to `size`, colour distortion (RGB only) and a horizontal flip."""
  size: int
  color: bool = True

  def random_map(self, element: dict, rng: np.random.Generator) -> dict:
    image = element["image"]
    top, left, h, w = inception_crop_box(rng, *image.shape[:2])
    image = resize(image[top:top + h, left:left + w], self.size, self.size)
    if self.color and image.shape[-1] == 3:
      image = color_distort(image, rng)
    if rng.random() < 0.5:
      image = image[:, ::-1]
    return {"image": np.ascontiguousarray(image), "label": np.int32(element["label"])}


@dataclasses.dataclass
class EvalPreprocess(grain.MapTransform):
  """Resize and centre crop to `size`: the same output for the same record, always."""
  size: int

  def map(self, element: dict) -> dict:
    return {"image": center_crop(element["image"], self.size), "label": np.int32(element["label"])}


# ----------------------------------------------------------------------------- video clips

def _clip_and_label(element: dict) -> tuple[np.ndarray, np.int32]:
  """The frames [F, H, W, 3] and label of a record written by `s3ta_jax.kinetics`."""
  return np.asarray(element["image/encoded"]), np.int32(element["clip/label/index"])


@dataclasses.dataclass
class VideoTrainAugment(grain.RandomMapTransform):
  """One random `size` x `size` crop and (if `flip`) one horizontal flip for all frames of a clip
  (frames whose short side is at least `size`, as the builder stores them)."""
  size: int
  flip: bool = True

  def random_map(self, element: dict, rng: np.random.Generator) -> dict:
    clip, label = _clip_and_label(element)
    h, w = clip.shape[1:3]
    if min(h, w) < self.size:
      raise ValueError(f"clip frames are {h}x{w}, smaller than the crop {self.size}; prepare "
                       "the dataset with a larger short side or lower model.image_size.")
    top, left = rng.integers(0, h - self.size + 1), rng.integers(0, w - self.size + 1)
    clip = clip[:, top:top + self.size, left:left + self.size]
    if self.flip and rng.random() < 0.5:
      clip = clip[:, :, ::-1]
    return {"image": np.ascontiguousarray(clip), "label": label}


@dataclasses.dataclass
class VideoEvalPreprocess(grain.MapTransform):
  """The central `size` x `size` crop of every frame."""
  size: int

  def map(self, element: dict) -> dict:
    clip, label = _clip_and_label(element)
    h, w = clip.shape[1:3]
    top, left = (h - self.size) // 2, (w - self.size) // 2
    return {"image": np.ascontiguousarray(clip[:, top:top + self.size, left:left + self.size]),
            "label": label}


# ----------------------------------------------------------------------------- cluttered MNIST

@dataclasses.dataclass
class Clutter(grain.RandomMapTransform):
  """RAM's cluttered task in numpy (ram_jax/data.py `make_example`'s distribution): the digit at a
  uniform position on a blank `canvas`, and `num_clutter` random `clutter_size` crops of other
  digits at uniform positions, composed by maximum. Adds "box" = (top, left) of the digit."""
  digits: np.ndarray  # uint8 [N, 28, 28], the pool the clutter is cut from.
  canvas: int = 60
  num_clutter: int = 4
  clutter_size: int = 8

  def random_map(self, element: dict, rng: np.random.Generator) -> dict:
    digit, index = element["image"], int(element["index"])
    c, n = self.clutter_size, len(self.digits)
    image = np.zeros((self.canvas, self.canvas), np.uint8)
    for _ in range(self.num_clutter):
      other = (index + 1 + rng.integers(0, n - 1)) % n  # Never the digit itself.
      r, s = rng.integers(0, 28 - c + 1, size=2)
      y, x = rng.integers(0, self.canvas - c + 1, size=2)
      np.maximum(image[y:y + c, x:x + c], self.digits[other, r:r + c, s:s + c],
                 out=image[y:y + c, x:x + c])
    top, left = rng.integers(0, self.canvas - 28 + 1, size=2)
    np.maximum(image[top:top + 28, left:left + 28], digit, out=image[top:top + 28, left:left + 28])
    return {"image": image[..., None], "label": np.int32(element["label"]),
            "box": np.array([top, left], np.int32)}


class ArraySource(grain.RandomAccessDataSource):
  """Records {name: array[i]} from equal-length arrays (plus "index": i)."""

  def __init__(self, **arrays: np.ndarray):
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
      raise ValueError(f"ArraySource arrays differ in length: { {k: len(v) for k, v in arrays.items()} }")
    self._arrays = arrays
    self._length = lengths.pop()

  def __len__(self) -> int:
    return self._length

  def __getitem__(self, i) -> dict:
    i = int(i)
    return {"index": np.int32(i), **{k: v[i] for k, v in self._arrays.items()}}

  def __repr__(self) -> str:  # Part of grain's iterator state: must not depend on the contents.
    return f"ArraySource(length={self._length}, fields={sorted(self._arrays)})"


def ram_test_canvases(images: np.ndarray, labels: np.ndarray, canvas: int, num_clutter: int,
                      seed: int, batch_size: int = 1000) -> dict:
  """RAM's evaluation set: image i from `fold_in(PRNGKey(seed), i)` exactly as `launch.mnist`
  makes it (ram_jax.data.make_eval_batch), so both models are scored on the same canvases."""
  from ram_jax import data as ram_data  # Only here: the RAM package is not needed for ImageNet.
  task = ram_data.Task("cluttered", canvas, num_clutter)
  key = jax.random.PRNGKey(seed)
  make = jax.jit(lambda index: ram_data.make_eval_batch(key, index, images, labels, task)[0])
  corners = jax.jit(lambda index: ram_data.eval_digit_centres(key, index, task) - 28 // 2)
  out, boxes = [], []
  for start in range(0, len(images), batch_size):
    index = np.arange(start, min(start + batch_size, len(images)))
    out.append(np.asarray(make(index)))
    boxes.append(np.asarray(corners(index)))
  canvases = np.round(np.concatenate(out) * 255).astype(np.uint8)
  return {"image": canvases, "label": labels.astype(np.int32),
          "box": np.concatenate(boxes).astype(np.int32)}


# ----------------------------------------------------------------------------- loaders

@dataclasses.dataclass
class Pipeline:
  """What `launch.classify` needs from a dataset."""
  train_source: Any
  train_ops: Sequence[Any]
  eval_source: Any
  eval_ops: Sequence[Any]
  num_classes: int
  image_shape: tuple[int, ...]  # [H, W, C], or [F, H, W, C] for clips.
  name: str = ""  # What results call the data when `config.dataset` is a format (a tfds name).
  class_names: tuple[str, ...] = ()


def process_batch_size(global_batch: int, name: str = "batch_size") -> int:
  if global_batch % jax.process_count():
    raise ValueError(f"{name}={global_batch} must divide evenly among the "
                     f"{jax.process_count()} processes.")
  return global_batch // jax.process_count()


def _absl_flags_for_grain_workers(worker_count: int) -> None:
  """grain's worker processes read absl flags; outside an absl app (tests, notebooks) nothing has
  parsed them, so take their defaults."""
  if worker_count and not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


def train_loader(pipeline: Pipeline, global_batch: int, seed: int,
                 worker_count: int = 0) -> grain.DataLoader:
  """Shuffled, repeating, augmented batches of this process's shard."""
  _absl_flags_for_grain_workers(worker_count)
  shard = grain.ShardByJaxProcess(drop_remainder=True)
  sampler = grain.IndexSampler(len(pipeline.train_source), shard, shuffle=True, num_epochs=None,
                               seed=seed)
  return grain.DataLoader(
      data_source=pipeline.train_source, sampler=sampler, worker_count=worker_count,
      operations=list(pipeline.train_ops) + [grain.Batch(process_batch_size(global_batch),
                                                         drop_remainder=True)])


@dataclasses.dataclass
class _AddMask(grain.MapTransform):
  def map(self, element: dict) -> dict:
    return {**element, "mask": np.float32(1.0)}


def eval_batches(pipeline: Pipeline, global_batch: int, num_examples: int = 0,
                 worker_count: int = 0):
  """This process's evaluation batches, each padded to full size with `mask` 0 on padding.

  All processes yield the same number of batches (the longest shard's), so collective steps line
  up. `num_examples` > 0 evaluates only the first that many records.
  """
  n = len(pipeline.eval_source)
  if num_examples:
    n = min(n, num_examples)
  per_process = process_batch_size(global_batch)
  # Contiguous shards by hand: grain 0.2's ShardOptions(drop_remainder=False) skipped a record.
  shard_len = -(-n // jax.process_count())
  start = min(n, jax.process_index() * shard_len)
  shard = _Subset(pipeline.eval_source, start, min(n, start + shard_len))
  loader = []
  if len(shard):  # grain refuses an empty sampler; an empty shard yields only padding.
    _absl_flags_for_grain_workers(worker_count)
    loader = grain.DataLoader(data_source=shard, worker_count=worker_count,
                              sampler=grain.IndexSampler(len(shard), shuffle=False, num_epochs=1),
                              operations=list(pipeline.eval_ops) + [_AddMask()])
  batch: list[dict] = []
  produced, last = 0, None
  for element in loader:
    batch.append(element)
    last = element
    if len(batch) == per_process:
      yield _stack(batch)
      produced, batch = produced + 1, []
  while produced < -(-shard_len // per_process):  # Shorter shards pad up to the longest's count.
    if last is None:  # An empty shard (fewer records than processes x shard length).
      last = pipeline.eval_source[0]
      for op in pipeline.eval_ops:
        last = op.map(last)
    batch += [{**last, "mask": np.float32(0.0)}] * (per_process - len(batch))
    yield _stack(batch)
    produced, batch = produced + 1, []


class _Subset(grain.RandomAccessDataSource):
  """Records [start, stop) of `source`."""

  def __init__(self, source, start: int, stop: int):
    self._source, self._start, self._length = source, start, max(0, stop - start)

  def __len__(self) -> int:
    return self._length

  def __getitem__(self, i) -> dict:
    return self._source[self._start + int(i)]


def _stack(elements: list[dict]) -> dict:
  return {k: np.stack([np.asarray(e[k]) for e in elements]) for k in elements[0]}


# ----------------------------------------------------------------------------- datasets

def imagenet(image_size: int, data_dir: str | None = None, dataset: str = "imagenet2012",
             eval_split: str = "validation") -> Pipeline:
  """tfds `imagenet2012` (prepared once with `python -m launch.prepare_imagenet`), read with
  `tfds.data_source`: no TensorFlow needed."""
  import tensorflow_datasets as tfds
  try:
    builder = tfds.builder(dataset, data_dir=data_dir)
    train = tfds.data_source(dataset, split="train", data_dir=data_dir)
    evaluation = tfds.data_source(dataset, split=eval_split, data_dir=data_dir)
  except Exception as e:  # tfds raises several types for "not prepared"; one message for all.
    raise FileNotFoundError(
        f"tfds dataset {dataset!r} is not prepared in {data_dir or '~/tensorflow_datasets'} "
        f"({type(e).__name__}: {e}). Prepare it once: pip install -e '.[prepare]' && "
        f"python -m launch.prepare_imagenet --manual_dir=DIR_WITH_ILSVRC2012_TARS") from None
  return Pipeline(train, [TrainAugment(image_size)], evaluation, [EvalPreprocess(image_size)],
                  builder.info.features["label"].num_classes, (image_size, image_size, 3))


def cluttered_mnist(data_dir: str | None, canvas: int = 60, num_clutter: int = 4,
                    eval_seed: int = 1234 + 17, num_validation: int = 10_000) -> Pipeline:
  """RAM's cluttered MNIST: train canvases made fresh per record from the 50k training digits,
  evaluation on RAM's test canvases (`eval_seed` is RAM's test seed: config.eval_seed + 17)."""
  from ram_jax import data as ram_data
  splits = ram_data.load_mnist(data_dir, num_validation)
  digits, labels = splits["train"]
  test_images, test_labels = splits["test"]
  test = ram_test_canvases(np.asarray(test_images), np.asarray(test_labels), canvas, num_clutter,
                           eval_seed)
  return Pipeline(ArraySource(image=np.asarray(digits), label=np.asarray(labels)),
                  [Clutter(np.asarray(digits), canvas, num_clutter)], ArraySource(**test), [],
                  10, (canvas, canvas, 1))


def kinetics(dataset_dir: str, image_size: int, eval_split: str = "validation",
             flip: bool = True) -> Pipeline:
  """A dataset built by `s3ta_jax.kinetics.prepare` (ArrayRecord; read without TensorFlow).
  `flip=False` where a mirrored clip would need another label (a direction of motion)."""
  from s3ta_jax import kinetics as kinetics_lib
  builder = kinetics_lib.open_dataset(dataset_dir)
  train = builder.as_data_source(split="train")
  num_frames, _, _, channels = builder.info.features["image/encoded"].shape
  if num_frames is None:  # Built before the frame count was fixed: read it from one clip.
    num_frames = np.asarray(train[0]["image/encoded"]).shape[0]
  labels = builder.info.features["clip/label/index"]
  return Pipeline(train, [VideoTrainAugment(image_size, flip)], builder.as_data_source(split=eval_split),
                  [VideoEvalPreprocess(image_size)], labels.num_classes,
                  (num_frames, image_size, image_size, channels), builder.info.name,
                  tuple(labels.names))


def synthetic_clips(num_clips: int, num_frames: int, size: int, channels: int, num_classes: int,
                    seed: int = 0) -> Pipeline:
  """Random uint8 clips and labels in memory: a smoke-run stand-in for a prepared video dataset."""
  rng = np.random.default_rng(seed)
  source = ArraySource(
      image=rng.integers(0, 256, (num_clips, num_frames, size, size, channels), dtype=np.uint8),
      label=rng.integers(0, num_classes, num_clips).astype(np.int32))
  return Pipeline(source, [], source, [], num_classes, (num_frames, size, size, channels))
