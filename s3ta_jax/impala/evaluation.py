"""Plays whole games with fixed parameters (greedy or sampled actions) and reports unclipped returns.

Uses the actor's policy step and its terminal-observation handling, on envs in synchronous mode
(one env per episode, `batch_size == num_envs`); each env counts its first finished game only.
Life loss never ends an evaluation episode.
"""
from __future__ import annotations

import jax
import numpy as np

from s3ta_jax.impala import envs as envs_lib
from s3ta_jax.impala.actor import make_policy_step


def evaluate(agent, params, env_name: str, episodes: int, greedy: bool, seed: int = 0,
             max_steps: int = 27000, reward_clip: float = 1.0) -> np.ndarray:
  """Returns the unclipped return of `episodes` games (max_steps agent steps each at most)."""
  h, w = agent.frame_shape
  env = envs_lib.make_envs(env_name, episodes, episodes, h, w, episodic_life=False,
                           seed=seed + 10_000)
  policy = make_policy_step(agent, greedy=greedy)
  n = episodes
  state_all = jax.tree.map(np.array, agent.initial_state(n))
  rng = jax.random.PRNGKey(seed)
  was_done = np.ones(n, bool)
  last_action = np.zeros(n, np.int32)
  last_reward = np.zeros(n, np.float32)
  returns, finished = np.zeros(n), np.zeros(n, bool)
  env.async_reset()
  for _ in range(max_steps + 2):
    ts = env.recv()
    ids = ts.env_id
    first = was_done[ids]
    prev_action = np.where(first, 0, last_action[ids]).astype(np.int32)
    prev_reward = np.where(first, 0.0, np.clip(last_reward[ids], -reward_clip, reward_clip))
    rng, key = jax.random.split(rng)
    action, _, state_all, _ = policy(params, state_all, ids, ts.obs, prev_action,
                                     prev_reward.astype(np.float32), first, ~ts.done, key)
    action = np.asarray(action)
    env.send(action, ids)
    live = ~finished[ids]
    returns[ids[live]] += ts.reward[live]
    finished[ids[ts.game_over & ts.done]] = True
    last_action[ids], last_reward[ids], was_done[ids] = action, ts.reward, ts.done
    if finished.all():
      break
  env.close()
  return returns
