"""Multi-level training (Mott et al. 2019, App. A.1.2): "distinct actors acting on different levels
all feeding trajectories to the same learner", every level with the full 18-action set, and the
mean capped human-normalised score (Espeholt et al. 2018, sec. 5.3.2) over the levels.

`config.levels` names the levels ("all": the 57 games of `human_scores`; or "Breakout,Seaquest");
empty means one level, `config.env_name`. The levels are spread over every actor thread of every
process (`actor_levels`); an actor with several levels steps one envpool per level behind the
one env interface (`MultiLevelEnvs`), so the actor, the rollout and the learner are unchanged.
"""
from __future__ import annotations

import numpy as np

from common.errors import UsageError
from s3ta_jax.impala import human_scores
from s3ta_jax.impala.env_types import TimeStep

FULL_ACTION_SET = 18  # ALE's full action set: one policy head for every level.


def parse_levels(spec: str) -> list[str]:
  """The levels `config.levels` names, in order ([] for a single-level run)."""
  if not spec:
    return []
  if spec == "all":
    return list(human_scores.SCORES)
  return [name.strip() for name in spec.split(",") if name.strip()]


def check_levels(spec: str):
  """Raises ValueError naming the problem when `config.levels` cannot be scored: every level needs
  a human reference score (the Atari-57), and none may be named twice in any spelling."""
  keys = []
  for level in parse_levels(spec):
    key = human_scores.game_key(level)
    if key is None:
      raise ValueError(f"config.levels: {level!r} is not one of the 57 games with human reference "
                       "scores (s3ta_jax/impala/human_scores.py), which the fitness needs.")
    if key in keys:
      raise ValueError(f"config.levels {spec!r} names {level!r} twice; name each level once.")
    keys.append(key)


def require_single_level(config, tool: str):
  """Tools that play `config.env_name` with its own action set refuse a multi-level run."""
  if parse_levels(config.levels):
    raise UsageError(f"{tool} plays one level, and this is a multi-level run "
                     f"({config.levels}); use launch.evaluate_atari, which scores each level.")


def actor_levels(levels: list[str], num_processes: int, process_index: int,
                 num_actors: int) -> list[list[str]]:
  """The levels each actor thread of process `process_index` plays. The process-major global
  actor index g plays every level j with j % A == g (A actors in all); with fewer levels than
  actors, actor g plays level g % L, so every actor has one and every level at least one."""
  total = num_processes * num_actors
  out = []
  for i in range(num_actors):
    g = process_index * num_actors + i
    mine = levels[g::total] if len(levels) >= total else [levels[g % len(levels)]]
    out.append(mine)
  return out


def capped_scores(mean_returns: dict[str, float]) -> dict[str, float]:
  """Per level, the human-normalised score of its mean return capped at 1 (100%)."""
  out = {}
  for level, value in mean_returns.items():
    hns = human_scores.human_normalized(level, value)
    if hns is None:
      raise ValueError(f"no human reference score for level {level!r} (human_scores.SCORES).")
    out[level] = min(hns, 1.0)
  return out


def mean_capped_score(mean_returns: dict[str, float]) -> float:
  """The mean over levels of the capped human-normalised score: IMPALA's and the paper's PBT
  fitness. Levels with no finished game yet count as absent."""
  scores = capped_scores(mean_returns)
  return float(np.mean(list(scores.values()))) if scores else float("nan")


class MultiLevelEnvs:
  """One env interface over one envpool per level. Env ids are global: level k owns ids
  [k * n, (k + 1) * n) for n envs per level. `recv` takes the levels' batches in turn; since the
  actor sends each batch's actions before its next `recv`, every pool always has one batch in
  flight and steps while the others are read."""

  def __init__(self, pools: list, levels: list[str]):
    sizes = {(p.num_envs, p.num_actions, p.obs_shape) for p in pools}
    if len(sizes) != 1:
      raise ValueError(f"levels {levels} give pools of different shapes {sizes}; a multi-level "
                       "run needs the same envs per level and the full action set.")
    self._pools, self.levels = pools, list(levels)
    self._per_level = pools[0].num_envs
    self.num_envs = self._per_level * len(pools)
    self.batch_size = pools[0].batch_size
    self.num_actions, self.obs_shape = pools[0].num_actions, pools[0].obs_shape
    self._next = 0

  def level_names(self, env_ids) -> list[str]:
    return [self.levels[i // self._per_level] for i in np.asarray(env_ids)]

  def async_reset(self):
    for pool in self._pools:
      pool.async_reset()

  def recv(self) -> TimeStep:
    k = self._next
    self._next = (k + 1) % len(self._pools)
    ts = self._pools[k].recv()
    return ts._replace(env_id=ts.env_id + k * self._per_level)

  def send(self, actions: np.ndarray, env_id: np.ndarray):
    env_id = np.asarray(env_id)
    pool = env_id // self._per_level
    for k in np.unique(pool):
      mine = pool == k
      self._pools[k].send(np.asarray(actions)[mine], env_id[mine] - k * self._per_level)

  def close(self):
    for pool in self._pools:
      pool.close()
