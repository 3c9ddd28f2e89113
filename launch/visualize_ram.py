"""Pictures of a trained RAM run: glimpse paths (as in Fig. 3 of Mnih et al. 2014), learning
curves, `policy_stats.json`; for a Catch run, an animated GIF of the agent and its catch rate.

  python -m launch.visualize_ram --workdir=workdirs/ram_mnist [--out_dir=docs/figures/ram_mnist]
  python -m launch.visualize_ram --workdir=workdirs/ram_catch

What each file shows: `ram_jax/figures.py`. Works on any workdir, finished or not.
"""
from absl import app, flags, logging

from common.cli import run_main
from common.errors import UsageError
from ram_jax import figures


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  if not f.workdir:
    raise UsageError("pass --workdir=DIR (a launch.mnist or launch.catch workdir).")
  for path in figures.visualize(f.workdir, f.out_dir, f.num_examples, f.data_dir):
    print(f"wrote {path}")


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "A launch.mnist or launch.catch workdir.")
  flags.DEFINE_string("out_dir", None, "Where to write the PNGs (default WORKDIR/figures).")
  flags.DEFINE_integer("num_examples", 8, "Test images to draw.")
  flags.DEFINE_string("data_dir", None, "MNIST idx directory, if not the run's own.")
  app.run(lambda argv: run_main(main, argv))
