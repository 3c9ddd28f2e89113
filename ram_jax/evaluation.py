"""A finished RAM run's test error over several glimpse paths per image (sec. 4.1: the first
glimpse is random), for `python -m launch.evaluate_ram`.

The paper's protocol (and `results.json`) classifies each image from one glimpse path. This
classifies each image from `num_paths` paths, each from its own random first glimpse:
- each path's error; path 0 is the one `launch.mnist` evaluates, so its error is the run's own.
  Their spread is how much the reported error owes to the draw of first glimpses;
- the error of the paths' averaged class probabilities: a test-time ensemble that takes
  `num_paths` times as many glimpses, so it is not comparable with the paper's rows.
"""
from __future__ import annotations

import time

import numpy as np

from common.errors import UsageError
from ram_jax import train
from ram_jax import workdir as ram_workdir


def evaluate_paths(workdir: str, num_paths: int, split: str = "test",
                   data_dir: str | None = None) -> dict:
  """Single-path errors of `num_paths` paths and their ensemble's error, on the run's `split`."""
  if num_paths < 1:
    raise UsageError(f"--paths={num_paths} must be >= 1.")
  config, params = ram_workdir.load_mnist_run(workdir)
  splits = ram_workdir.load_mnist_digits(config, data_dir)
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
