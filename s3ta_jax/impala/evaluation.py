"""Plays whole games with fixed parameters (greedy or sampled actions) and reports unclipped returns
and the human-normalised score (`python -m launch.evaluate_atari` calls `evaluate_run`).

Steps the envs through the shared `rollout.Rollout` (the actor's agent inputs and terminal
observations), in synchronous mode (one env per game, `batch_size == num_envs`); each env counts
its first finished game only. Life loss never ends an evaluation game.
"""
from __future__ import annotations

import json
import os
import time

import jax
import numpy as np

from s3ta_jax.impala import envs as envs_lib
from s3ta_jax.impala import human_scores
from s3ta_jax.impala import levels as levels_lib
from s3ta_jax.impala import workdir as atari_workdir
from s3ta_jax.impala.rollout import Rollout


def evaluate(agent, params, env_name: str, episodes: int, greedy: bool, seed: int = 0,
             max_steps: int = 27000, full_action_space: bool = False) -> np.ndarray:
  """Returns the unclipped return of `episodes` games (max_steps agent steps each at most; an
  unfinished game counts what it scored so far). `full_action_space`: the 18 actions of a
  multi-level agent."""
  h, w = agent.frame_shape
  env = envs_lib.make_envs(env_name, episodes, episodes, h, w, episodic_life=False,
                           seed=seed + 10_000,
                           **(dict(full_action_space=True) if full_action_space else {}))
  try:
    rollout = Rollout(agent, env, greedy=greedy)
    rng = jax.random.PRNGKey(seed)
    returns, finished = np.zeros(episodes), np.zeros(episodes, bool)
    for _ in range(max_steps + 2):
      rng, key = jax.random.split(rng)
      step = rollout.step(params, key)
      first_game = ~finished[step.game_over_ids]
      returns[step.game_over_ids[first_game]] = step.game_returns[first_game]
      finished[step.game_over_ids] = True
      if finished.all():
        return returns
    return np.where(finished, returns, rollout.game_returns_so_far())
  finally:
    env.close()


def evaluate_run(workdir: str, episodes: int, modes: list[str], max_steps: int = 27000,
                 seed: int = 0) -> list[dict]:
  """Evaluates a launch.atari workdir's latest checkpoint in each of `modes` ("greedy",
  "stochastic"): prints the returns and the human-normalised score (of each level, and their
  mean capped score, for a multi-level run), appends them to `WORKDIR/eval.jsonl` and returns
  those records."""
  config, agent, params, frames = atari_workdir.load(workdir)
  multi = levels_lib.parse_levels(config.levels)
  records = []
  for mode in modes:
    means, mode_records = {}, []
    for level in multi or [config.env_name]:
      start = time.time()
      returns = evaluate(agent, params, level, episodes, greedy=mode == "greedy", seed=seed,
                         max_steps=max_steps, full_action_space=bool(multi))
      mean = float(np.mean(returns))
      hns = human_scores.human_normalized(level, mean)
      hns_text = f"{100 * hns:.1f}%" if hns is not None else "n/a (not an Atari-57 game)"
      print(f"{level} {mode} after {frames:,} frames: {len(returns)} games, return mean "
            f"{mean:.2f} median {np.median(returns):.2f} min {np.min(returns):.2f} max "
            f"{np.max(returns):.2f}; human-normalised {hns_text} ({time.time() - start:.0f}s)",
            flush=True)
      means[level] = mean
      mode_records.append(dict(frames=frames, mode=mode, episodes=len(returns), return_mean=mean,
                               return_median=float(np.median(returns)),
                               returns=[float(r) for r in returns], human_normalized=hns,
                               time=time.time(), **(dict(level=level) if multi else {})))
    if multi:
      fitness = levels_lib.mean_capped_score(means)
      print(f"{len(multi)} levels, {mode}: mean capped human-normalised score "
            f"{100 * fitness:.1f}%", flush=True)
      mode_records.append(dict(frames=frames, mode=mode, levels=multi, capped_hns_mean=fitness,
                               time=time.time()))
    with open(os.path.join(workdir, "eval.jsonl"), "a") as f:
      f.writelines(json.dumps(r) + "\n" for r in mode_records)
    records += mode_records
  return records
