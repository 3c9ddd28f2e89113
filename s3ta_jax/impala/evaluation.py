"""Plays whole games with fixed parameters (greedy or sampled actions) and reports unclipped returns.

Steps the envs through the shared `rollout.Rollout` (the actor's agent inputs and terminal
observations), in synchronous mode (one env per game, `batch_size == num_envs`); each env counts
its first finished game only. Life loss never ends an evaluation game.
"""
from __future__ import annotations

import jax
import numpy as np

from s3ta_jax.impala import envs as envs_lib
from s3ta_jax.impala.rollout import Rollout


def evaluate(agent, params, env_name: str, episodes: int, greedy: bool, seed: int = 0,
             max_steps: int = 27000) -> np.ndarray:
  """Returns the unclipped return of `episodes` games (max_steps agent steps each at most; an
  unfinished game counts what it scored so far)."""
  h, w = agent.frame_shape
  env = envs_lib.make_envs(env_name, episodes, episodes, h, w, episodic_life=False,
                           seed=seed + 10_000)
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
