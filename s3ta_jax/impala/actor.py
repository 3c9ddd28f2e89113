"""Actor threads (Sebulba style): step a batch of async envs, run the policy on the actor device, emit unrolls.

Each `recv` returns `batch_size` of the `num_envs` environments; the actor steps them through the
shared `rollout.Rollout` (one jitted policy step, actions sent back at once, so envpool steps those
envs while the actor does its bookkeeping and the next batch is inferred), and writes the agent
timesteps into per-env buffers. Every env emits an unroll of T+1 timesteps each T steps; the last
timestep of one unroll is the first of the next (it only bootstraps V-trace).

Terminal observations are not agent timesteps (`rollout.py`), so every stored transition is a
real one and `first[t]` both resets the agent and zeroes the discount into t.
"""
from __future__ import annotations

import queue
import threading
import time
import traceback
from typing import Any, Callable

import jax
import numpy as np

from s3ta_jax.impala.env_types import ACTION_REPEAT
from s3ta_jax.impala.rollout import Rollout


class TrajectoryBuilder:
  """Per-env buffers of T+1 timesteps; returns each env's unroll when full (pure numpy)."""

  def __init__(self, num_envs: int, unroll_length: int, obs_shape, num_actions: int,
               state_example):
    n, t1 = num_envs, unroll_length + 1
    self.unroll_length = unroll_length
    self.buffers = dict(
        obs=np.zeros((n, t1) + tuple(obs_shape), np.uint8),
        first=np.zeros((n, t1), bool),
        prev_action=np.zeros((n, t1), np.int32),
        reward=np.zeros((n, t1), np.float32),
        action=np.zeros((n, t1), np.int32),
        logits=np.zeros((n, t1, num_actions), np.float32))
    self.count = np.zeros(n, np.int64)
    self.init_state = jax.tree.map(lambda x: np.zeros((n,) + x.shape[1:], x.dtype),
                                   state_example)

  def add(self, env_ids, state_before: Callable[[], Any], **timestep) -> list[dict]:
    """Writes one timestep for each of `env_ids`; `state_before()` gives their states before it."""
    env_ids = np.asarray(env_ids)
    if len(env_ids) == 0:
      return []
    pos = self.count[env_ids]
    states = None
    if np.any((pos == 0) | (pos == self.unroll_length)):
      states = state_before()
      starts = np.nonzero(pos == 0)[0]
      for leaf, new in zip(jax.tree.leaves(self.init_state), jax.tree.leaves(states)):
        leaf[env_ids[starts]] = new[starts]
    for key, value in timestep.items():
      self.buffers[key][env_ids, pos] = value
    self.count[env_ids] += 1
    out = []
    for i in np.nonzero(self.count[env_ids] == self.unroll_length + 1)[0]:
      e = env_ids[i]
      traj = {k: v[e].copy() for k, v in self.buffers.items()}
      traj["init_state"] = jax.tree.map(lambda x: x[e].copy(), self.init_state)
      out.append(traj)
      # The last timestep starts the next unroll; its state-before is that unroll's initial state.
      for v in self.buffers.values():
        v[e, 0] = v[e, -1]
      for leaf, new in zip(jax.tree.leaves(self.init_state), jax.tree.leaves(states)):
        leaf[e] = new[i]
      self.count[e] = 1
    return out


class ParamStore:
  """Latest learner parameters, versioned; actors copy them to their device when the version moves."""

  def __init__(self):
    self._lock = threading.Lock()
    self._params, self._version = None, -1

  def set(self, params):
    with self._lock:
      self._params, self._version = params, self._version + 1

  def get(self):
    with self._lock:
      return self._params, self._version


class EpisodeLog:
  """Finished games (unclipped return, length in agent steps, level: None in a single-level run),
  shared by actors and the learner."""

  def __init__(self):
    self._lock = threading.Lock()
    self._returns, self._lengths, self._levels = [], [], []

  def add(self, returns, lengths, levels=None):
    with self._lock:
      self._returns.extend(float(r) for r in returns)
      self._lengths.extend(int(n) for n in lengths)
      self._levels.extend(levels if levels is not None else [None] * len(returns))

  def drain(self) -> tuple[list[float], list[int], list[str | None]]:
    with self._lock:
      out = (self._returns, self._lengths, self._levels)
      self._returns, self._lengths, self._levels = [], [], []
    return out


class Actor:
  """One actor thread: its own envs, per-env recurrent state, unrolls into `out_queue`.

  Any exception is kept in `self.error` (with traceback) for the learner to re-raise.
  """

  def __init__(self, actor_id: int, agent, make_env: Callable[[], Any], params: ParamStore,
               out_queue: queue.Queue, unroll_length: int, device, seed: int,
               stop: threading.Event, episodes: EpisodeLog):
    self.actor_id, self.agent, self.make_env = actor_id, agent, make_env
    self.params, self.queue, self.unroll_length = params, out_queue, unroll_length
    self.device, self.seed, self.stop, self.episodes = device, seed, stop, episodes
    self.error: BaseException | None = None
    self.error_text = ""
    self.env_steps = 0  # Agent steps taken (x ACTION_REPEAT frames).
    self.thread = threading.Thread(target=self._guarded, name=f"actor-{actor_id}", daemon=True)

  def start(self):
    self.thread.start()
    return self

  def _guarded(self):
    try:
      self.run()
    except BaseException as e:  # Reported by the learner, which must not hang on an empty queue.
      self.error, self.error_text = e, traceback.format_exc()

  def _put(self, traj):
    while not self.stop.is_set():
      try:
        self.queue.put(traj, timeout=0.5)
        return
      except queue.Full:
        continue

  def run(self, max_steps: int | None = None):
    env = self.make_env()
    try:
      self._loop(env, max_steps)
    finally:
      env.close()

  def _loop(self, env, max_steps):
    rollout = Rollout(self.agent, env, self.device)
    builder = TrajectoryBuilder(env.num_envs, self.unroll_length, env.obs_shape, env.num_actions,
                                jax.tree.map(np.asarray, self.agent.initial_state(1)))
    rng = jax.device_put(jax.random.PRNGKey(self.seed), self.device)
    version, local_params = -2, None
    steps = 0
    while not self.stop.is_set() and (max_steps is None or steps < max_steps):
      params, v = self.params.get()
      if v != version:
        if params is None:
          time.sleep(0.01)
          continue
        local_params = jax.device_put(
            jax.tree.map(lambda x: x.addressable_shards[0].data
                         if isinstance(x, jax.Array) else x, params), self.device)
        version = v
      rng, key = jax.random.split(rng)
      s = rollout.step(local_params, key)
      if len(s.game_over_ids):
        levels = env.level_names(s.game_over_ids) if hasattr(env, "level_names") else None
        self.episodes.add(s.game_returns, s.game_lengths, levels)
      vi = np.nonzero(s.valid)[0]
      prev_action = np.asarray(s.inputs[0])
      trajs = builder.add(
          s.env_id[vi], lambda: jax.tree.map(lambda x: np.asarray(x)[vi], s.state_before),
          obs=s.obs[vi], first=s.first[vi], prev_action=prev_action[vi], reward=s.reward[vi],
          action=s.action[vi], logits=np.asarray(s.output.logits)[vi])
      self.env_steps += len(vi)
      steps += 1
      for traj in trajs:
        self._put(traj)


def frames(env_steps: int) -> int:
  return env_steps * ACTION_REPEAT
