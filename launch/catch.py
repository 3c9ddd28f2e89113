"""Trains the RAM agent on Catch (Mnih et al. 2014, sec. 4.2) with REINFORCE.

  python -m launch.catch --config=configs/ram_catch.py --config.workdir=workdirs/ram_catch

Each step plays one whole game (23 frames) in each of `num_envs` vmapped games and applies one
REINFORCE update, all in one jit. Prints a progress line (step, training catch rate, frames/s,
ETA), writes `workdir/metrics.jsonl` (every record carries `frames`, the frames played so far;
training lines carry `train_catch_rate` of the sampled policy; evaluations add `catch_rate`, the
greedy policy's catch rate over `num_eval_episodes` fresh games, and `catch_rate_sampled`),
checkpoints to `workdir/checkpoints/`, resumes from the latest checkpoint when re-run with the
same workdir, and finally writes `workdir/results.json` (step, frames, catch_rate, ...).
"""
from __future__ import annotations

import json
import math
import os
import time

import jax
import jax.numpy as jnp
from absl import app
from absl import logging
from ml_collections import config_flags

from common.checkpoint import Checkpointer
from common.cli import parse_flags, run_main
from common.errors import Stopped, UsageError
from common.loop import LoopControl, StopSignal
from common.metrics import Progress
from common.workdir import claim_workdir, guard_config
from ram_jax import catch
from ram_jax import catch_agent



def check_config(config):
  """Raises UsageError naming the bad field and the fix."""
  positive = dict(num_envs=config.num_envs, total_frames=config.total_frames,
                  learning_rate=config.learning_rate, location_std=config.location_std,
                  num_eval_episodes=config.num_eval_episodes, eval_every_steps=config.eval_every_steps,
                  glimpse_size=config.glimpse_size, num_scales=config.num_scales, hidden=config.hidden)
  for name, value in positive.items():
    if not value > 0:
      raise UsageError(f"config.{name} must be > 0, got {value!r}; set --config.{name}=...")
  if config.optimizer not in ("adam", "sgd"):
    raise UsageError(f"config.optimizer must be 'adam' or 'sgd', got {config.optimizer!r}.")
  if config.lr_schedule not in ("constant", "cosine"):
    raise UsageError(
        f"config.lr_schedule must be 'constant' or 'cosine', got {config.lr_schedule!r}.")
  if not config.workdir:
    raise UsageError("config.workdir is empty; pass --config.workdir=DIR (e.g. workdirs/ram_catch).")
  try:
    catch_agent.glimpse_lib.check_retina_args((catch.SIZE, catch.SIZE), config.glimpse_size,
                                              config.num_scales)
  except ValueError as e:
    raise UsageError(f"{e} (the Catch screen is {catch.SIZE}x{catch.SIZE})") from None


def frames_per_step(config) -> int:
  return config.num_envs * catch.STEPS_PER_GAME


def train(config) -> dict:
  """Runs (or resumes) training in `config.workdir`; returns the final evaluation metrics."""
  check_config(config)
  workdir = config.workdir
  claim_workdir(workdir)
  guard_config(workdir, config)
  agent = catch_agent.make_agent(config)
  per_step = frames_per_step(config)
  num_steps = math.ceil(config.total_frames / per_step)
  optimizer = catch_agent.make_optimizer(config, num_steps)
  state = catch_agent.init_train_state(agent, optimizer, config.num_envs,
                                       jax.random.PRNGKey(config.seed))
  checkpointer = Checkpointer(workdir)
  if checkpointer.latest_step() is not None:
    state = catch_agent.TrainState(*checkpointer.restore(state))
    print(f"resumed from step {int(state.step)} in {workdir}", flush=True)
  start = int(state.step)

  train_step = jax.jit(catch_agent.make_train_step(agent, optimizer, config.baseline_weight,
                                                   config.entropy_weight), donate_argnums=0)
  eval_key = jax.random.PRNGKey(config.eval_seed)

  @jax.jit
  def evaluate(params):
    return dict(catch_rate=catch_agent.evaluate(agent, params, eval_key,
                                                config.num_eval_episodes, greedy=True),
                catch_rate_sampled=catch_agent.evaluate(agent, params, eval_key,
                                                        config.num_eval_episodes, greedy=False))

  progress = Progress(workdir, num_steps, start_step=start, unit="frames",
                              every_s=config.progress_every_s)

  def run_eval(step):
    result = {k: float(v) for k, v in evaluate(state.params).items()}
    progress.write(step, {**result, "frames": step * per_step})
    print(f"[eval step {step}] frames={step * per_step:,} catch_rate={result['catch_rate']:.3f} "
          f"(sampled policy {result['catch_rate_sampled']:.3f}, "
          f"{config.num_eval_episodes} games)", flush=True)
    return result

  t0 = time.time()
  shown = ("catch_rate", "entropy", "baseline_loss", "grad_norm")  # Logged as train_<name>.
  sums, count = None, 0  # Training metrics since the last progress line (device arrays, lazy).
  result = None
  with StopSignal() as stop_signal:
    control = LoopControl(num_steps, config.eval_every_steps, config.checkpoint_every_s,
                                  stop_signal)
    for step in range(start + 1, num_steps + 1):
      state, metrics = train_step(state)
      sums = {k: metrics[k] + (sums[k] if sums else 0.0) for k in shown}
      count += 1
      is_last = step == num_steps
      means = {"frames": step * per_step, **{f"train_{k}": v / count for k, v in sums.items()}}
      if progress.update(step, per_step, means, force=is_last):
        sums, count = None, 0
      actions = control.after(step)
      if actions.evaluate or is_last:  # This loop's final evaluation is its last step's.
        result = run_eval(step)
      if actions.checkpoint:
        checkpointer.save(step, state, wait=actions.wait)
      if actions.stop:
        checkpointer.close()
        progress.close()
        raise Stopped(control.stopped_message(step))
  if result is None:  # Nothing left to train: evaluate the restored agent.
    result = run_eval(start)
  checkpointer.close()
  progress.close()
  step = max(start, num_steps)
  results = {"step": step, "frames": step * per_step, **result,
             "num_eval_episodes": config.num_eval_episodes,
             "train_time_s_this_session": time.time() - t0}
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  print(f"final: catch rate {result['catch_rate']:.3f} over {config.num_eval_episodes} games "
        f"after {step * per_step:,} frames", flush=True)
  return results


def main(argv, config_flag):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}; pass settings as --config.NAME=VALUE.")
  if config_flag.value is None:
    raise UsageError("no config; pass --config=configs/ram_catch.py")
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO; keep the progress lines.
  train(config_flag.value)


if __name__ == "__main__":
  # Defined here, not at import, so tests can import several launch modules.
  _CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a config, e.g. configs/ram_catch.py.")
  app.run(lambda argv: run_main(lambda a: main(a, _CONFIG), argv),
          flags_parser=parse_flags)
