"""Trains an S3TA image or video classifier, or a ResNet baseline (Mott et al. 2019, sec. 4.2).

  python -m launch.classify --config=configs/s3ta_imagenet.py --config.workdir=DIR
  python -m launch.classify --config=configs/s3ta_imagenet.py:mock --config.workdir=DIR   # no data
  python -m launch.classify --config=configs/s3ta_cluttered60.py --config.data_dir=../shared/data/mnist \
      --config.workdir=DIR

Re-running the same command resumes (the input iterators too). Data parallel over every device
JAX sees, on one host or many (WORKSPACE.md). What it writes: `s3ta_jax/classify_loop.py`.
"""
import sys

from common.cli import run_with_config
from s3ta_jax import classify_loop

if __name__ == "__main__":
  command = [sys.executable, "-m", "launch.classify", *sys.argv[1:]]  # Kept for run records.
  run_with_config(lambda config: classify_loop.train(config, command=command),
                  "configs/s3ta_imagenet.py")
