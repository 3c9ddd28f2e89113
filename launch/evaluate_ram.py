"""Evaluates a trained RAM run on MNIST from its workdir, over several glimpse paths per image.

  python -m launch.evaluate_ram --workdir=runs/cluttered60_ram8 --paths=8 [--split=test]

The paper's protocol (and `results.json`) classifies each image from one glimpse path, whose first
glimpse is random (sec. 4.1). This classifies each image from `--paths` paths, each from its own
random first glimpse, and prints (and writes to `WORKDIR/paths_<split>.json`):
- each path's error; path 0 is the one `launch.mnist` evaluates, so its error is the run's own.
  Their spread is how much the reported error owes to the draw of first glimpses;
- the error of the paths' averaged class probabilities: a test-time ensemble that takes
  `--paths` times as many glimpses, so it is not comparable with the paper's rows.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
from absl import app, flags, logging

from common.cli import run_main
from common.errors import UsageError
from launch import visualize_ram
from ram_jax import train

_WORKDIR = flags.DEFINE_string("workdir", None, "A launch.mnist workdir of a RAM run.")
_PATHS = flags.DEFINE_integer("paths", 8, "Glimpse paths per image.")
_SPLIT = flags.DEFINE_enum("split", "test", list(train.EVAL_SPLITS), "Which digits.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "MNIST idx directory, if not the run's own.")


def evaluate(workdir: str, num_paths: int, split: str = "test", data_dir: str | None = None) -> dict:
  """Single-path errors of `num_paths` paths and their ensemble's error, on the run's `split`."""
  if num_paths < 1:
    raise UsageError(f"--paths={num_paths} must be >= 1.")
  config, params = visualize_ram.load_run(workdir)
  splits = visualize_ram.load_run_digits(config, data_dir)
  if not splits[split][0].shape[0]:
    raise UsageError(f"the run has no {split} digits (num_validation={config.num_validation}).")
  mesh = train.make_mesh()
  evaluator = train.make_evaluator(train.make_model(config), train.make_task(config),
                                   config.eval_batch_size, mesh, train.eval_seed(config, split),
                                   num_paths)
  start = time.time()
  result = evaluator(train.replicate(params, mesh), *train.replicate(splits[split], mesh))
  path_errors = result.get("path_errors", [result["error"]])
  return {"split": split, "images": int(splits[split][0].shape[0]), "paths": num_paths,
          "path_errors": path_errors, "path_error_mean": float(np.mean(path_errors)),
          "path_error_std": float(np.std(path_errors)),
          "path_average_error": result.get("path_average_error", result["error"]),
          "seconds": time.time() - start}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if not _WORKDIR.value:
    raise UsageError("pass --workdir=DIR (a launch.mnist workdir of a RAM run).")
  r = evaluate(_WORKDIR.value, _PATHS.value, _SPLIT.value, _DATA_DIR.value)
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
