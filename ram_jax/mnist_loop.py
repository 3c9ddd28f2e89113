"""Trains RAM (or an FC / conv baseline) on an MNIST-family task (Mnih et al. 2014, sec. 4.1) in a
workdir, resuming from its last checkpoint: `python -m launch.mnist` calls `train`.

Writes `config.json`, `metrics.jsonl` (train metrics every `progress_every_s`, validation and test
error every `eval_every_steps`), orbax checkpoints (params, optimizer state, step, RNG) and, at
the end, `results.json` with the test error.
"""
from __future__ import annotations

import json
import os
import time

import jax

from common import loop
from common.checkpoint import Checkpointer
from common.errors import UsageError
from common.metrics import MetricMeans, step_progress
from common.workdir import claim_workdir, guard_config
from ram_jax import data, train as train_lib


def train(config, stop_at: int | None = None) -> dict | None:
  """Trains and evaluates per `config`; returns the results dict also written to results.json.

  `stop_at` ends the session after that step's checkpoint, as a kill would (for tests).
  """
  devices = jax.local_devices()
  if not config.workdir:
    raise UsageError("no workdir: pass --config.workdir=DIR (e.g. workdirs/ram_mnist).")
  try:
    train_lib.validate_config(config, len(devices))
    task = train_lib.make_task(config)
    splits = data.load_mnist(config.data_dir or None, config.num_validation)
  except (ValueError, FileNotFoundError) as e:
    raise UsageError(str(e)) from None
  claim_workdir(config.workdir)
  guard_config(config.workdir, config, train_lib.migrate_config)

  mesh = train_lib.make_mesh(devices)
  model = train_lib.make_model(config)
  optimizer = train_lib.make_optimizer(config)
  state = train_lib.init_state(config, model, optimizer, task)
  checkpointer = Checkpointer(config.workdir)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state, set_aside_damaged=True)
    print(f"resumed from step {int(state['step'])} in {config.workdir}", flush=True)
  state = train_lib.replicate(state, mesh)
  train_images, train_labels = train_lib.replicate(splits["train"], mesh)
  train_step = train_lib.make_train_step(model, optimizer, task, config, mesh)
  evaluators = {
      name: (train_lib.make_evaluator(model, task, config.eval_batch_size, mesh,
                                      train_lib.eval_seed(config, name)),
             train_lib.replicate(splits[name], mesh))
      for name in train_lib.EVAL_SPLITS if splits[name][0].shape[0]}

  def errors() -> dict:
    return {f"{name}_error": fn(state["params"], *arrays)["error"]
            for name, (fn, arrays) in evaluators.items()}

  start, total = int(state["step"]), config.num_train_steps
  print(f"{config.model} on {task.name} {task.canvas}x{task.canvas}: "
        f"{sum(x.size for x in jax.tree.leaves(state['params'])):,} parameters, "
        f"{len(devices)} device(s), steps {start}->{total}, batch {config.batch_size}", flush=True)
  progress = step_progress(config, start, headline={"cross_entropy": "loss",
                                                    "accuracy": "accuracy"})
  means = MetricMeans()
  clock = {"train_s": 0.0, "since": time.time()}  # Training time, evaluations left out.

  def step_fn(step):
    nonlocal state
    state, metrics = train_step(state, train_images, train_labels)
    means.add(metrics, config.batch_size)
    return step + 1, False

  def report(step):
    values, items = means.take()
    progress.update(step, items, values, force=True)

  def evaluate(step) -> dict:
    clock["train_s"] += time.time() - clock["since"]
    result = errors()
    progress.write(step, {**result, "train_time_s": clock["train_s"]})
    print(f"[eval step {step}] " + " ".join(f"{k}={v:.4f}" for k, v in result.items()),
          flush=True)
    clock["since"] = time.time()
    return result

  outcome, result = loop.train_and_evaluate(
      start, step_fn, total=total, eval_every_steps=config.eval_every_steps,
      checkpoint_every_s=config.checkpoint_every_s,
      save=lambda step, wait: checkpointer.save(step, state, wait=wait), report=report,
      report_every_s=config.progress_every_s, evaluate=evaluate, stop_at=stop_at,
      closing=(checkpointer, progress))
  if outcome.stopped:
    return None
  step = outcome.step
  results = {"step": step, "images": step * config.batch_size, "model": config.model,
             "task": task.name, "canvas": task.canvas, **result,
             "train_time_s_this_session": clock["train_s"]}
  with open(os.path.join(config.workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  print("results: " + json.dumps(results), flush=True)
  return results
