"""RAM, 6 glimpses of 8×8 at 1 scale, on 28×28 MNIST (Table 1a: 1.29% error in the paper).

  python -m launch.mnist --config=configs/ram_mnist.py --config.data_dir=../shared/data/mnist \
      --config.workdir=workdirs/ram_mnist

Expected: 1.23% test error (1.44% validation) after 60,000 steps of 128 (20.5 minutes of training on
a shared 2-core CPU; test error 1.91% at 13.5 minutes). Curve in README.md (RAM section).
Baseline: `--config=configs/ram_mnist.py:fc` (FC 2x256; paper 1.35%).
"""
from configs.mnist_base import base_config


def get_config(arg=None):
  c = base_config(arg)
  c.task = "centered"
  c.canvas = 28
  c.glimpse_size = 8
  c.num_scales = 1
  c.num_glimpses = 6
  c.num_train_steps = 60_000  # 7.7M images: about 20 minutes on a (shared) 2-core CPU.
  return c
