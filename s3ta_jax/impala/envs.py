"""Batched asynchronous environments behind one interface (envpool Atari, rendered Catch).

The actor only sees this interface, so Atari and the CPU Catch check run through the same code:

  env.async_reset()
  ts = env.recv()             # TimeStep for `batch_size` envs that are ready, in any order
  env.send(actions, ts.env_id)

Semantics follow envpool: an env returns its terminal observation with `done=True`; the next
`send` for it is ignored and returns the first observation of a new episode with reward 0.
`game_over` marks the end of a real game (with episodic life, `done` also fires on life loss),
and is what unclipped episode returns are reported over.
"""
from __future__ import annotations

import difflib
import re

import numpy as np

from s3ta_jax.impala.env_types import ACTION_REPEAT, TimeStep


def _atari_ids() -> dict[str, str]:
  import envpool  # Imported lazily: the Catch check and unit tests do not need it.
  ids = [e for e in envpool.list_all_envs() if e.endswith("-v5")]
  return {_norm(e[:-3]): e for e in ids}


def _norm(name: str) -> str:
  name = re.sub(r"-v\d+$", "", name)
  return re.sub(r"[^a-z0-9]", "", name.lower())


def resolve_game(name: str) -> str:
  """Maps 'breakout', 'Breakout', 'ms_pacman', 'MsPacman-v5' to the envpool id, or explains why not."""
  ids = _atari_ids()
  key = _norm(name)
  if key in ids:
    return ids[key]
  close = difflib.get_close_matches(key, list(ids), n=5, cutoff=0.5)
  hint = ", ".join(ids[c] for c in close) if close else "none; see envpool.list_all_envs()"
  raise ValueError(f"unknown Atari game {name!r}; close matches: {hint}. "
                   "Set --config.env_name to one of them (or 'catch' for the CPU check).")


class AtariEnvs:
  """envpool Atari in async mode (`batch_size < num_envs` lets stepping overlap inference)."""

  def __init__(self, game: str, num_envs: int, batch_size: int, img_height: int = 210,
               img_width: int = 160, episodic_life: bool = False, seed: int = 0,
               num_threads: int = 0, max_episode_steps: int = 27000, noop_max: int = 30,
               repeat_action_probability: float = 0.0, full_action_space: bool = False):
    import envpool
    if batch_size > num_envs:
      raise ValueError(f"env batch_size {batch_size} > num_envs {num_envs}; "
                       "set actor.env_batch_size <= actor.num_envs.")
    self.task_id = resolve_game(game)
    self._env = envpool.make(
        self.task_id, env_type="gymnasium", num_envs=num_envs, batch_size=batch_size,
        img_height=img_height, img_width=img_width, gray_scale=False, stack_num=1,
        frame_skip=ACTION_REPEAT, episodic_life=episodic_life, reward_clip=False, seed=seed,
        num_threads=num_threads, max_episode_steps=max_episode_steps, noop_max=noop_max,
        repeat_action_probability=repeat_action_probability, full_action_space=full_action_space)
    self.num_envs, self.batch_size = num_envs, batch_size
    self.num_actions = int(self._env.action_space.n)
    self.obs_shape = (img_height, img_width, 3)

  def async_reset(self):
    self._env.async_reset()

  def recv(self) -> TimeStep:
    obs, reward, terminated, truncated, info = self._env.recv()
    done = np.logical_or(terminated, truncated)
    # info["terminated"] is the real game over; `terminated` alone also fires on life loss.
    game_over = np.logical_or(info["terminated"].astype(bool), truncated)
    return TimeStep(np.ascontiguousarray(obs.transpose(0, 2, 3, 1)), reward.astype(np.float32),
                    done, game_over, info["env_id"].astype(np.int32))

  def send(self, actions: np.ndarray, env_id: np.ndarray):
    self._env.send(np.asarray(actions, np.int32), np.asarray(env_id, np.int32))

  def close(self):
    self._env.close()


def is_catch(name: str) -> bool:
  """Whether `name` asks for the rendered Catch check rather than an Atari game."""
  return _norm(name) == "catch"


def make_envs(name: str, num_envs: int, batch_size: int, img_height: int, img_width: int,
              episodic_life: bool = False, seed: int = 0, **kwargs):
  """`name` is an Atari game, or 'catch' for the rendered Catch check."""
  if is_catch(name):
    from s3ta_jax.impala.catch_env import CatchEnvs
    return CatchEnvs(num_envs, batch_size, img_height, img_width, seed=seed)
  return AtariEnvs(name, num_envs, batch_size, img_height, img_width, episodic_life, seed,
                   **kwargs)
