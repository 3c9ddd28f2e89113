"""Evaluates a trained RAM run on MNIST from its workdir, over several glimpse paths per image.

  python -m launch.evaluate_ram --workdir=runs/cluttered60_ram8 --paths=8 [--split=test]

Prints each path's error (path 0 is the run's own evaluation), their spread, and the error of
the paths' averaged probabilities, and writes them to `WORKDIR/paths_<split>.json`
(`ram_jax/evaluation.py` says what each means).
"""
import json
import os

from absl import app, flags, logging

from common.cli import run_main
from common.errors import UsageError
from ram_jax import evaluation, train

_WORKDIR = flags.DEFINE_string("workdir", None, "A launch.mnist workdir of a RAM run.")
_PATHS = flags.DEFINE_integer("paths", 8, "Glimpse paths per image.")
_SPLIT = flags.DEFINE_enum("split", "test", list(train.EVAL_SPLITS), "Which digits.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "MNIST idx directory, if not the run's own.")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if not _WORKDIR.value:
    raise UsageError("pass --workdir=DIR (a launch.mnist workdir of a RAM run).")
  r = evaluation.evaluate_paths(_WORKDIR.value, _PATHS.value, _SPLIT.value, _DATA_DIR.value)
  print(f"{r['split']} error over {r['images']:,} images, {r['paths']} glimpse path(s) each "
        f"({r['seconds']:.0f} s):")
  print(f"  path 0 (the run's own evaluation): {r['path_errors'][0]:.2%}")
  print(f"  one path, over the {r['paths']} draws of the first glimpse: "
        f"{r['path_error_mean']:.2%} ± {r['path_error_std']:.2%} (mean ± std)")
  print(f"  {r['paths']} paths' averaged probabilities: {r['path_average_error']:.2%}")
  path = os.path.join(_WORKDIR.value, f"paths_{r['split']}.json")
  with open(path, "w") as f:
    json.dump(r, f, indent=2)
  print(f"wrote {path}")


if __name__ == "__main__":
  app.run(lambda argv: run_main(main, argv))
