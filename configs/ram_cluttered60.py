"""RAM, 8 glimpses of 12×12 at 3 scales, on 60×60 Cluttered Translated MNIST, 4 pieces of 8×8
clutter (Table 2a: 5.23% in the paper).

  python -m launch.mnist --config=configs/ram_cluttered60.py --config.data_dir=../shared/data/mnist \
      --config.workdir=workdirs/ram_cluttered60

Expected: 6.37% test error after the 300k updates (1.04 h on a 2-core CPU;
`python -m launch.reproduce --set=cluttered60_ram8`); the paper's 5.23% is not reached yet.
With `--config.num_train_steps=400000`: 6.64% (1.65 h), so more training does not close the gap.
With `--config.reward=probability` (REINFORCE rewarded with p(correct class), not the paper's 0/1):
5.46% after the same 300k updates (1.60 h, README "Reproducing"), 5.26% resumed to 400k
(`--config.num_train_steps=400000 --config.allow_config_change=True`, +0.84 h). With 4 glimpses
(`--config.num_glimpses=4`, paper 7.1%): 6.83% (1.24 h, two runs sharing the CPU); with 6
(paper 5.88%): 6.42% (1.91 h, shared). With `--config.position_weight=1.0` (an extra loss teaching
the core where the digit is, not the paper's): 3.09% after the 300k updates (1.83 h, partly shared);
with `--config.position_weight=10`: 2.55% (1.54 h, partly shared).
Baselines (paper; ours after 300k updates): `:fc64` (28.96%; 26.28%), `:fc` (13.2%; 10.54%),
`:conv8` (8 10×10 filters stride 5 + 256 FC, 7.83%; 7.16%, `launch.reproduce --set=cluttered60_conv`).
"""
from configs.mnist_base import base_config


def get_config(arg=None):
  c = base_config(arg, conv_filters=8)  # Table 2 caption: 8 filters.
  c.task = "cluttered"
  c.canvas = 60
  c.num_clutter = 4
  c.glimpse_size = 12
  c.num_scales = 3
  c.num_glimpses = 8
  # Exploration matters in clutter: at constant lr 0.05, 40k updates, std 0.2 reached 14.3% test
  # error against 19.7% for the 28x28 default 0.1 (runs in the README, "Reproducing").
  c.location_std = 0.2
  # `--config.reinforce_to_core=True` (sec. 3.2's reading) is not the default: 12.55% against
  # 13.54% at 30k updates, constant lr, but 6.47% after 200k cosine updates against this
  # config's 6.37% after 300k, so no clear gain (README, "Reproducing").
  # `reward="probability"` is not the default so the table reproduces the paper's method.
  c.num_train_steps = 300_000
  return c
