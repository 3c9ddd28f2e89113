"""Writes the moving-digits task (s3ta_jax/moving_mnist.py) as MP4 clips + a Kinetics CSV, then
builds it with the Kinetics builder, so training reads it exactly as it would read Kinetics:

  python -m launch.prepare_moving_mnist --mnist_dir=../shared/data/mnist --out_dir=data/moving_mnist

Prints the dataset directory to pass as `--config.data_dir` to configs/s3ta_moving_mnist.py.
Needs PyAV (`pip install -e ".[kinetics]"`); ~2 minutes on a 2-core CPU for the defaults.
"""
from __future__ import annotations

import os

from absl import app, flags

from common.cli import run_main
from common.errors import UsageError

_MNIST_DIR = flags.DEFINE_string("mnist_dir", None, "Directory with the MNIST idx .gz files.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Where the clips and the built dataset go.")
_NUM_TRAIN = flags.DEFINE_integer("num_train", 12_000, "Training clips (MNIST training digits).")
_NUM_TEST = flags.DEFINE_integer("num_test", 2_000, "Test clips (MNIST test digits).")
_SEED = flags.DEFINE_integer("seed", 0, "Fixes every clip.")


def main(argv):
  del argv
  if not _MNIST_DIR.value or not _OUT_DIR.value:
    raise UsageError("pass --mnist_dir (the MNIST idx files) and --out_dir.")
  from ram_jax import data as ram_data  # pylint: disable=g-import-not-at-top
  from s3ta_jax import kinetics, moving_mnist  # pylint: disable=g-import-not-at-top
  try:
    mnist = ram_data.load_mnist(_MNIST_DIR.value, num_validation=10_000)
  except FileNotFoundError as e:
    raise UsageError(str(e)) from None
  release = os.path.join(_OUT_DIR.value, "release")
  task = moving_mnist.Task()
  print(f"writing {_NUM_TRAIN.value:,} + {_NUM_TEST.value:,} clips to {release}...", flush=True)
  moving_mnist.write_release(release, {"train": mnist["train"], "validate": mnist["test"]},
                             {"train": _NUM_TRAIN.value, "validate": _NUM_TEST.value},
                             _SEED.value, task)
  directory = kinetics.prepare(release, os.path.join(_OUT_DIR.value, "tfds"), task.num_frames,
                               task.canvas, name="moving_mnist",
                               labels=moving_mnist.LABEL_NAMES)
  print(f"prepared {directory}; train with --config.data_dir={directory}", flush=True)


if __name__ == "__main__":
  app.run(lambda argv: run_main(main, argv))
