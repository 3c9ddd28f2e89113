"""Classifier speed: `python -m launch.benchmark classify [--sizes=imagenet,small] [--batch=8]`.

1. Input pipeline alone: images/s of one worker decoding (tfds mock ImageNet JPEGs through
   `tfds.data_source`) and augmenting (`input_pipeline.TrainAugment`) to 224x224, and of the
   cluttered MNIST canvases.
2. Train step images/s of S3TA at T = 1, 4, 8 and of the plain ResNet baseline, each also as
   achieved GFLOP/s against the matmul peak measured in the same run (`common/flops.py`).
The pipeline is a bottleneck once the model runs faster than workers x the per-worker rate.
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from common.flops import describe, flops_per_call, matmul_peak_gflops
from ram_jax import train as ram_train
from s3ta_jax import classifier, input_pipeline, supervised


def _parse(argv):
  p = argparse.ArgumentParser(prog="python -m launch.benchmark classify", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--sizes", default="imagenet,small", help="comma list of classifier configs")
  p.add_argument("--lengths", default="1,4,8", help="comma list of S3TA sequence lengths")
  p.add_argument("--batch", type=int, default=8, help="train batch for the imagenet size")
  p.add_argument("--small_batch", type=int, default=128, help="train batch for the small size")
  p.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (median)")
  p.add_argument("--pipeline_images", type=int, default=200, help="images per pipeline timing")
  args = p.parse_args(argv[1:])
  for size in args.sizes.split(","):
    if size not in ("imagenet", "small"):
      p.error(f"unknown size {size!r}; choose from imagenet, small")
  return args


def _rate(fn, count: int, repeats: int = 3) -> float:
  """Median items/s of `fn()` producing `count` items."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return count / statistics.median(times)


def time_pipelines(n: int):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  with tfds.testing.mock_data(num_examples=n, policy=tfds.testing.MockPolicy.USE_CODE):
    source = tfds.data_source("imagenet2012", split="train")
    augment = input_pipeline.TrainAugment(224)
    rng = np.random.default_rng(0)
    shape = source[0]["image"].shape
    decode = _rate(lambda: [source[i] for i in range(n)], n)
    records = [source[i] for i in range(n)]
    both = _rate(lambda: [augment.random_map(source[i], rng) for i in range(n)], n)
    aug_only = _rate(lambda: [augment.random_map(r, rng) for r in records], n)
  print(f"pipeline, one worker: mock ImageNet JPEGs (~{shape[0]}x{shape[1]}; real ones are "
        f"~400x350): read+decode {decode:,.0f} img/s, augment to 224 {aug_only:,.0f} img/s, "
        f"both {both:,.0f} img/s", flush=True)
  digits = np.random.default_rng(0).integers(0, 256, (1000, 28, 28)).astype(np.uint8)
  clutter = input_pipeline.Clutter(digits)
  elements = [{"image": digits[i], "label": 0, "index": i} for i in range(n)]
  canvases = _rate(lambda: [clutter.random_map(e, rng) for e in elements], n)
  print(f"pipeline, one worker: cluttered MNIST 60x60 canvases {canvases:,.0f} img/s", flush=True)
  return both


def time_train_step(size: str, kind: str, length: int, batch: int, repeats: int, peak: float):
  config = classifier.classifier_config(size)
  config.kind = kind
  config.sequence_length = length
  model = classifier.make_classifier(config, 1000 if size == "imagenet" else 10)
  opt_config = _opt_config()
  optimizer = supervised.make_optimizer(opt_config)
  state = supervised.init_state(model, optimizer, 0)
  step = supervised.make_train_step(model, optimizer, ram_train.make_mesh(), length)
  # Random inputs: constant ones drive the loss to 0 and the CPU through slow denormal numbers.
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (batch, config.image_size, config.image_size,
                                             config.image_channels), dtype=np.uint8))
  labels = jnp.asarray(rng.integers(0, model.num_classes, batch).astype(np.int32))
  flops = flops_per_call(step, state, images, labels)
  for _ in range(2):  # Compile, then one more call to warm up.
    state, metrics = step(state, images, labels)
    jax.block_until_ready(metrics)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    state, metrics = step(state, images, labels)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  rate = batch / seconds
  print(f"train step {size} {kind} T={length} batch {batch}: {rate:,.1f} img/s, "
        f"{flops / batch / 1e9:.2f} GFLOP/img, {describe(flops, seconds, peak)}",
        flush=True)
  return rate


def _opt_config():
  import ml_collections  # pylint: disable=g-import-not-at-top
  return ml_collections.ConfigDict({"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
                                    "lr_boundaries": (), "warmup_steps": 0, "max_grad_norm": 0.0})


def main(argv):
  args = _parse(argv)
  peak = matmul_peak_gflops()
  print(f"{jax.devices()[0].platform}: matmul peak {peak:,.0f} GFLOP/s", flush=True)
  per_worker = time_pipelines(args.pipeline_images)
  for size in args.sizes.split(","):
    batch = args.batch if size == "imagenet" else args.small_batch
    rates = {"resnet T=1": time_train_step(size, "resnet", 1, batch, args.repeats, peak)}
    for length in (int(t) for t in args.lengths.split(",")):
      rates[f"s3ta T={length}"] = time_train_step(size, "s3ta", length, batch, args.repeats, peak)
    if size == "imagenet":
      fastest = max(rates.values())
      print(f"{size}: the fastest model here ({fastest:,.1f} img/s) needs "
            f"{fastest / per_worker:.2f} pipeline workers; the pipeline would become the "
            f"bottleneck above {per_worker:,.0f} img/s per worker (x worker_count)", flush=True)
