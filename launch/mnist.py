"""Trains RAM (or an FC / conv baseline) on an MNIST-family task (Mnih et al. 2014, sec. 4.1).

  python -m launch.mnist --config=configs/ram_cluttered60.py --config.data_dir=DIR --config.workdir=DIR

`--config=FILE:fc` / `:conv` runs the baselines of Tables 1–2 on the same task. Writes
`config.json`, `metrics.jsonl` (train metrics every `progress_every_s`, validation and test error
every `eval_every_steps`), orbax checkpoints (params, optimizer state, step, RNG) and, at the end,
`results.json` with the test error. Re-running the same command resumes from the last checkpoint.
"""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, logging
from ml_collections import config_flags

from common.checkpoint import Checkpointer
from common.cli import parse_flags, run_main
from common.errors import Stopped, UsageError
from common.loop import LoopControl, StopSignal
from common.metrics import Progress
from common.workdir import claim_workdir, guard_config
from ram_jax import data, train



def run(config, stop_at: int | None = None) -> dict | None:
  """Trains and evaluates per `config`; returns the results dict also written to results.json.

  `stop_at` ends the session after that step's checkpoint, as a kill would (for tests).
  """
  devices = jax.local_devices()
  if not config.workdir:
    raise UsageError("no workdir: pass --config.workdir=DIR (e.g. workdirs/ram_mnist).")
  try:
    train.validate_config(config, len(devices))
    task = train.make_task(config)
    splits = data.load_mnist(config.data_dir or None, config.num_validation)
  except (ValueError, FileNotFoundError) as e:
    raise UsageError(str(e)) from None
  claim_workdir(config.workdir)
  guard_config(config.workdir, config, train.migrate_config)

  mesh = train.make_mesh(devices)
  model = train.make_model(config)
  optimizer = train.make_optimizer(config)
  state = train.init_state(config, model, optimizer, task)
  checkpointer = Checkpointer(config.workdir)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state)
    print(f"resumed from step {int(state['step'])} in {config.workdir}", flush=True)
  state = train.replicate(state, mesh)
  train_images, train_labels = train.replicate(splits["train"], mesh)
  train_step = train.make_train_step(model, optimizer, task, config, mesh)
  evaluators = {
      name: (train.make_evaluator(model, task, config.eval_batch_size, mesh,
                                  train.eval_seed(config, name)), train.replicate(splits[name], mesh))
      for name in train.EVAL_SPLITS if splits[name][0].shape[0]}

  def evaluate(params) -> dict:
    return {f"{name}_error": fn(params, *arrays)["error"] for name, (fn, arrays) in evaluators.items()}

  step = int(state["step"])
  total = config.num_train_steps
  progress = Progress(config.workdir, total, start_step=step, every_s=config.progress_every_s)
  n_params = sum(x.size for x in jax.tree.leaves(state["params"]))
  print(f"{config.model} on {task.name} {task.canvas}x{task.canvas}: {n_params:,} parameters, "
        f"{len(devices)} device(s), steps {step}->{total}, batch {config.batch_size}", flush=True)
  last_print = time.time()
  train_time = 0.0
  metric_sum, count, items = None, 0, 0
  t0 = time.time()
  with StopSignal() as stop_signal:
    control = LoopControl(total, config.eval_every_steps, config.checkpoint_every_s,
                                  stop_signal, stop_at)
    while step < total:
      state, metrics = train_step(state, train_images, train_labels)
      step += 1
      metric_sum = metrics if metric_sum is None else jax.tree.map(jnp.add, metric_sum, metrics)
      count += 1
      items += config.batch_size
      now = time.time()
      if now - last_print >= config.progress_every_s or step == total:
        means = {k: float(v) / count for k, v in jax.device_get(metric_sum).items()}
        progress.update(step, items, means, force=True)
        metric_sum, count, items, last_print = None, 0, 0, time.time()
      actions = control.after(step)
      if actions.evaluate:
        train_time += time.time() - t0
        errors = evaluate(state["params"])
        progress.write(step, {**errors, "train_time_s": train_time})
        print(f"[eval step {step}] " + " ".join(f"{k}={v:.4f}" for k, v in errors.items()),
              flush=True)
        t0 = time.time()
      if actions.checkpoint:
        checkpointer.save(step, state, wait=actions.wait)
      if actions.stop:
        checkpointer.close()
        progress.close()
        if control.stopped_message(step):
          raise Stopped(control.stopped_message(step))
        return None
  train_time += time.time() - t0
  checkpointer.close()
  errors = evaluate(state["params"])
  progress.write(step, {**errors, "train_time_s": train_time})
  progress.close()
  results = {"step": step, "images": step * config.batch_size, "model": config.model,
             "task": task.name, "canvas": task.canvas, **errors,
             "train_time_s_this_session": train_time}
  with open(os.path.join(config.workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  print("results: " + json.dumps(results), flush=True)
  return results


def main(argv, config_flag):
  logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint step at INFO.
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}; settings go in --config.FIELD=VALUE.")
  if config_flag.value is None:
    raise UsageError("pass --config=configs/ram_mnist.py (or another configs/ram_*.py).")
  run(config_flag.value)


if __name__ == "__main__":
  # Defined here, not at import, so tests (and other launches) can import `run` without
  # clashing over the global --config flag. lock_config: a mistyped --config.FIELD is an error.
  _CONFIG = config_flags.DEFINE_config_file("config", None, "configs/ram_*.py[:ram|fc|conv]",
                                            lock_config=True)
  app.run(lambda argv: run_main(lambda a: main(a, _CONFIG), argv), flags_parser=parse_flags)
