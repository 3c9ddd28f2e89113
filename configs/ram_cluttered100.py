"""RAM, 8 glimpses of 12×12 at 4 scales, on 100×100 Cluttered Translated MNIST, 8 pieces of 8×8
clutter (Table 2b: 10.83% in the paper).

  python -m launch.mnist --config=configs/ram_cluttered100.py --config.data_dir=../shared/data/mnist \
      --config.workdir=workdirs/ram_cluttered100

Expected: 8.03% test error after 200k updates (1.9 h on a 2-core CPU; the paper's 10.83%) with RAM's
defaults, the public recipe (`mnist_base.with_public_recipe`; docs/notes/2026-12-02-ram-cluttered-
public-recipe.md). With 4 / 6 glimpses (`--config.num_glimpses=4` / `6`) it reaches 12.32% / 9.09%
(paper 14.95% / 11.58%).
`:first_reading` (the settings before it, 300k updates) reached 16.14%.
Baseline: `:conv8` (8 10×10 filters stride 5, then 86 FC units as in Table 2b: 16.51%; ours 14.85%
after 300k updates, `python -m launch.reproduce --set=cluttered100_conv`).
"""
from configs.mnist_base import base_config, with_public_recipe


def get_config(arg=None):
  c = base_config(arg, has_recipe=True, conv_filters=8, conv_hidden=86)  # Table 2b: 86 units.
  c.task = "cluttered"
  c.canvas = 100
  c.num_clutter = 8
  c.glimpse_size = 12
  c.num_scales = 4
  c.num_glimpses = 8
  # For `:first_reading` and the baselines; the recipe sets its own (as ram_cluttered60.py).
  c.location_std = 0.2
  c.num_train_steps = 300_000
  return with_public_recipe(c, arg)
