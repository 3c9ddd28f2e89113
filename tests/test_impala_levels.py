"""Multi-level training (App. A.1.2): which actor plays which level, the capped human-normalised
fitness, and one env interface over several envpools, against hand computations."""
import numpy as np
import pytest

from s3ta_jax.impala import levels
from s3ta_jax.impala.env_types import TimeStep


def test_levels_are_spread_over_every_actor_of_every_process():
  five = ["a", "b", "c", "d", "e"]
  # 2 processes x 2 actors: global actors 0..3, level j to actor j % 4.
  assert levels.actor_levels(five, 2, 0, 2) == [["a", "e"], ["b"]]
  assert levels.actor_levels(five, 2, 1, 2) == [["c"], ["d"]]
  # Fewer levels than actors: each actor one level, each level at least one actor.
  assert levels.actor_levels(["a", "b"], 1, 0, 4) == [["a"], ["b"], ["a"], ["b"]]
  assert len(levels.parse_levels("all")) == 57 and levels.parse_levels("") == []
  assert levels.parse_levels("Breakout, Pong") == ["Breakout", "Pong"]
  with pytest.raises(ValueError, match="twice"):
    levels.check_levels("Pong,Pong")
  levels.check_levels("all")
  with pytest.raises(ValueError, match="twice"):  # One game, two spellings.
    levels.check_levels("MsPacman,ms_pacman")
  with pytest.raises(ValueError, match="'Pooyan' is not one of the 57"):  # envpool has it.
    levels.check_levels("Breakout,Pooyan")


def test_fitness_is_the_mean_of_human_normalised_scores_capped_at_one():
  # Breakout: random 1.7, human 30.5 -> 16.1 is half way; Pong: random -20.7, human 14.6.
  means = {"Breakout": 16.1, "Pong": 21.0, "MsPacman": 307.3}
  capped = levels.capped_scores(means)
  assert capped["Breakout"] == pytest.approx(0.5)
  assert capped["Pong"] == 1.0  # (21 + 20.7) / 35.3 = 1.18, capped.
  assert capped["MsPacman"] == pytest.approx(0.0)  # MsPacman's random score.
  assert levels.mean_capped_score(means) == pytest.approx(0.5)
  with pytest.raises(ValueError, match="no human reference"):
    levels.capped_scores({"catch": 1.0})


class _Pool:
  """A fake envpool: batch = all its envs, records what it was sent."""

  def __init__(self, tag, n=3):
    self.num_envs, self.batch_size, self.num_actions, self.obs_shape = n, n, 18, (2, 2, 3)
    self.tag, self.sent = tag, []

  def async_reset(self):
    pass

  def recv(self):
    n = self.num_envs
    return TimeStep(np.full((n, 2, 2, 3), self.tag, np.uint8), np.zeros(n, np.float32),
                    np.zeros(n, bool), np.zeros(n, bool), np.arange(n, dtype=np.int32))

  def send(self, actions, env_id):
    self.sent.append((list(actions), list(env_id)))

  def close(self):
    pass


def test_one_env_interface_over_a_pool_per_level_routes_ids_and_actions():
  a, b = _Pool(1), _Pool(2)
  env = levels.MultiLevelEnvs([a, b], ["Breakout", "Pong"])
  assert (env.num_envs, env.num_actions) == (6, 18)
  first, second = env.recv(), env.recv()
  assert list(first.env_id) == [0, 1, 2] and np.all(first.obs == 1)
  assert list(second.env_id) == [3, 4, 5] and np.all(second.obs == 2)
  assert env.level_names([0, 2, 3, 5]) == ["Breakout", "Breakout", "Pong", "Pong"]
  env.send(np.array([7, 8, 9]), np.array([5, 0, 3]))
  assert a.sent == [([8], [0])] and b.sent == [([7, 9], [2, 0])]
  with pytest.raises(ValueError, match="different shapes"):
    levels.MultiLevelEnvs([a, _Pool(3, n=4)], ["Breakout", "Pong"])


def test_a_multilevel_actor_steps_real_atari_levels_with_the_full_action_set():
  from configs.s3ta_atari import get_config
  from s3ta_jax.impala import system
  c = get_config("multilevel_cpu")
  c.levels, c.actor.num_actors, c.actor.num_envs, c.actor.env_batch_size = "Breakout,Pong", 1, 2, 2
  assert system.num_actions_of(c, (84, 84)) == 18
  env = system.env_factory(c, (84, 84), 0)()
  try:
    env.async_reset()
    seen = set()
    for _ in range(4):
      ts = env.recv()
      seen.update(env.level_names(ts.env_id))
      env.send(np.full(len(ts.env_id), 17), ts.env_id)  # DOWNLEFTFIRE: only in the full set.
    assert seen == {"Breakout", "Pong"} and ts.obs.shape[1:] == (84, 84, 3)
  finally:
    env.close()
