"""Trains the RAM agent on Catch (Mnih et al. 2014, sec. 4.2) with REINFORCE in a workdir, resuming
from its last checkpoint: `python -m launch.catch` calls `train`.

Each step plays one whole game (23 frames) in each of `num_envs` vmapped games and applies one
REINFORCE update, all in one jit. Writes `metrics.jsonl` (every record carries `frames`, the
frames played so far; training lines carry `train_catch_rate` of the sampled policy; evaluations
add `catch_rate`, the greedy policy's catch rate over `num_eval_episodes` fresh games, and
`catch_rate_sampled`), checkpoints to `checkpoints/`, and finally `results.json` (step, frames,
catch_rate, ...).
"""
from __future__ import annotations

import json
import math
import os
import time

import jax

from common import loop
from common.checkpoint import Checkpointer
from common.errors import UsageError
from common.metrics import MetricMeans, Progress
from common.workdir import claim_workdir, guard_config
from ram_jax import catch
from ram_jax import catch_agent

SHOWN = ("catch_rate", "entropy", "baseline_loss", "grad_norm")  # Logged as train_<name>.


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
    state = catch_agent.TrainState(*checkpointer.restore(state, set_aside_damaged=True))
    print(f"resumed from step {int(state.step)} in {workdir}", flush=True)
  start = int(state.step)

  train_step = jax.jit(catch_agent.make_train_step(agent, optimizer, config.baseline_weight,
                                                   config.entropy_weight), donate_argnums=0)
  eval_key = jax.random.PRNGKey(config.eval_seed)

  @jax.jit
  def catch_rates(params):
    return dict(catch_rate=catch_agent.evaluate(agent, params, eval_key,
                                                config.num_eval_episodes, greedy=True),
                catch_rate_sampled=catch_agent.evaluate(agent, params, eval_key,
                                                        config.num_eval_episodes, greedy=False))

  progress = Progress(workdir, num_steps, start_step=start, unit="frames",
                      every_s=config.progress_every_s,
                      headline={"train_catch_rate": "catch rate (sampled)"})
  means = MetricMeans()
  t0 = time.time()

  def step_fn(step):
    nonlocal state
    state, metrics = train_step(state)
    means.add({k: metrics[k] for k in SHOWN}, per_step)
    return step + 1, False

  def report(step):
    values, frames = means.take()
    shown = {"frames": step * per_step, **{f"train_{k}": v for k, v in values.items()}}
    progress.update(step, frames, shown, force=True)

  def evaluate(step) -> dict:
    result = {k: float(v) for k, v in catch_rates(state.params).items()}
    progress.write(step, {**result, "frames": step * per_step})
    print(f"[eval step {step}] frames={step * per_step:,} catch_rate={result['catch_rate']:.3f} "
          f"(sampled policy {result['catch_rate_sampled']:.3f}, "
          f"{config.num_eval_episodes} games)", flush=True)
    return result

  # The final evaluation is of the restored agent when nothing was left to train.
  outcome, result = loop.train_and_evaluate(
      start, step_fn, total=num_steps, eval_every_steps=config.eval_every_steps,
      checkpoint_every_s=config.checkpoint_every_s,
      save=lambda step, wait: checkpointer.save(step, state, wait=wait), report=report,
      report_every_s=config.progress_every_s, evaluate=evaluate,
      closing=(checkpointer, progress))
  step = outcome.step
  results = {"step": step, "frames": step * per_step, **result,
             "num_eval_episodes": config.num_eval_episodes,
             "train_time_s_this_session": time.time() - t0}
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  print(f"final: catch rate {result['catch_rate']:.3f} over {config.num_eval_episodes} games "
        f"after {step * per_step:,} frames", flush=True)
  return results
