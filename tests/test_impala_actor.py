"""Actor: unrolls assembled from a scripted async env against a numpy reference; crash handling;
config and game-name errors."""
import collections
import queue
import threading
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common.checkpoint import Checkpointer
from common.errors import Stopped
from common.loop import LoopControl
from common.metrics import after_resumes
from common.workdir import write_json_atomic
from s3ta_jax.impala import actor as actor_lib
from s3ta_jax.impala import envs as envs_lib
from s3ta_jax.impala import env_types
from s3ta_jax.impala import learner as learner_lib
from s3ta_jax.impala import atari_loop, system


class ScriptedEnvs:
  """Async envs (envpool semantics) whose frames encode (env, step counter k).

  Env e has episodes of 2 + e steps; reward at step k is k - 3 (unclipped, some beyond [-1, 1]).
  Every (k, reward, done, action received) is logged per env for the reference.
  """

  def __init__(self, num_envs, batch_size, h=4, w=3):
    self.num_envs, self.batch_size, self.num_actions = num_envs, batch_size, 5
    self.obs_shape = (h, w, 3)
    self.k = np.zeros(num_envs, int)
    self.t = np.zeros(num_envs, int)  # Step within the episode.
    self.done = np.zeros(num_envs, bool)
    self.ready = collections.deque()
    self.log = collections.defaultdict(list)
    self.last = {}

  def _obs(self, e):
    o = np.zeros(self.obs_shape, np.uint8)
    o[..., 0], o[..., 1], o[..., 2] = e, self.k[e] % 256, self.k[e] // 256
    return o

  def async_reset(self):
    for e in range(self.num_envs):
      self.ready.append((e, 0.0, False))

  def recv(self):
    items = [self.ready.popleft() for _ in range(self.batch_size)]
    ids = np.array([e for e, _, _ in items], np.int32)
    for e, r, d in items:
      self.last[e] = (int(self.k[e]), r, d)
    done = np.array([d for _, _, d in items])
    return env_types.TimeStep(np.stack([self._obs(e) for e in ids]),
                              np.array([r for _, r, _ in items], np.float32), done,
                              done & (ids % 2 == 0), ids)

  def send(self, actions, env_id):
    for a, e in zip(actions, env_id):
      self.log[e].append(self.last[e] + (int(a),))
      self.k[e] += 1
      if self.done[e]:
        self.t[e], self.done[e] = 0, False
        self.ready.append((e, 0.0, False))
      else:
        self.t[e] += 1
        self.done[e] = self.t[e] == 2 + e
        self.ready.append((e, float(self.k[e] - 3), bool(self.done[e])))

  def close(self):
    pass


class Out(NamedTuple):
  logits: jax.Array
  value: jax.Array
  attention: jax.Array


class CountingAgent:
  """State = steps since reset; logits expose (state after step, frame counter k, prev inputs)."""
  frame_shape = (4, 3)
  num_actions = 5
  reward_clip = 1.0

  def initial_state(self, b):
    return (jnp.zeros((b, 1)), jnp.zeros((b, 2)))

  def step(self, params, obs, prev_action, prev_reward, reset, state):
    count = jnp.where(reset[:, None], 0.0, state[0]) + 1.0
    k = obs[:, 0, 0, 1].astype(jnp.float32) + 256.0 * obs[:, 0, 0, 2]
    logits = jnp.stack([count[:, 0], k, prev_action.astype(jnp.float32), prev_reward,
                        jnp.zeros_like(k)], -1) * 1e-3  # Small: actions stay random.
    return Out(logits, count[:, 0], None), (count, state[1] + 1.0)


def reference_timesteps(log):
  """Agent timesteps for one env from its log of (k, reward, done, action): terminals skipped."""
  steps, pending, first, count = [], 0.0, True, 0
  for k, r, d, a in log:
    if d:
      pending, first = r, True
      continue
    count_before = count
    count = 1 if first else count + 1
    prev_action = 0 if first else steps[-1]["action"]
    steps.append(dict(k=k, first=first, reward=pending if first else r, prev_action=prev_action,
                      action=a, count_before=count_before, count=count))
    first = False
  return steps


def test_unrolls_match_numpy_reference():
  T, n, b = 4, 5, 2
  env = ScriptedEnvs(n, b)
  q = queue.Queue()
  store = actor_lib.ParamStore()
  store.set({})
  episodes = actor_lib.EpisodeLog()
  act = actor_lib.Actor(0, CountingAgent(), lambda: env, store, q, T, jax.devices()[0], 0,
                        threading.Event(), episodes)
  act.run(max_steps=120)
  trajs = collections.defaultdict(list)
  while not q.empty():
    tr = q.get()
    trajs[int(tr["obs"][0, 0, 0, 0])].append(tr)
  assert set(trajs) == set(range(n))
  for e in range(n):
    ref = reference_timesteps(env.log[e])
    for j, tr in enumerate(trajs[e]):
      window = ref[j * T: j * T + T + 1]
      assert len(window) == T + 1
      k = tr["obs"][:, 0, 0, 1].astype(int) + 256 * tr["obs"][:, 0, 0, 2].astype(int)
      np.testing.assert_array_equal(k, [s["k"] for s in window])
      np.testing.assert_array_equal(tr["obs"][:, :, :, 0], e)
      np.testing.assert_array_equal(tr["first"], [s["first"] for s in window])
      np.testing.assert_array_equal(tr["reward"], [s["reward"] for s in window])
      np.testing.assert_array_equal(tr["prev_action"], [s["prev_action"] for s in window])
      np.testing.assert_array_equal(tr["action"], [s["action"] for s in window])
      # Behaviour logits are the ones computed on these inputs.
      np.testing.assert_allclose(tr["logits"][:, 0] * 1e3, [s["count"] for s in window], atol=1e-3)
      np.testing.assert_allclose(tr["logits"][:, 1] * 1e3, k, atol=1e-2)
      clipped = [0.0 if s["first"] else np.clip(s["reward"], -1, 1) for s in window]
      np.testing.assert_allclose(tr["logits"][:, 3] * 1e3, clipped, atol=1e-3)
      # Initial core state: the state before obs[0] of the unroll.
      np.testing.assert_allclose(tr["init_state"][0], [window[0]["count_before"]])
  # Unclipped returns of finished games (even env ids end the game at each done).
  returns, lengths, _ = episodes.drain()
  expected = []
  for e in range(0, n, 2):
    ret, steps = 0.0, 0
    for kk, r, d, _ in env.log[e]:
      ret += r
      steps += not d
      if d:
        expected.append((ret, steps))
        ret, steps = 0.0, 0
  assert sorted(zip(returns, lengths)) == sorted(expected)
  assert len(expected) > 3


class ExplodingEnvs(ScriptedEnvs):
  def __init__(self, *args):
    super().__init__(*args)
    self.calls, self.num_actions = 0, 3

  def recv(self):
    self.calls += 1
    if self.calls > 5:
      raise RuntimeError("boom: emulator died")
    return super().recv()


def _catch_config():
  from configs.s3ta_atari import get_config
  c = get_config("catch")
  c.agent.update(dict(frame_height=12, frame_width=10, channels=4, hidden=8))
  c.batch_size, c.unroll_length = 2, 3
  return c


def test_crashed_actor_makes_learner_raise():
  trainer = system.Trainer(_catch_config())
  trainer.start_actors(make_env=lambda i: (lambda: ExplodingEnvs(4, 2, 12, 10)))
  with pytest.raises(system.ActorCrashed, match="boom: emulator died"):
    atari_loop.run(trainer, LoopControl(10**12, 0, 1e9, _Signal(at=10**9), max_seconds=120))
  assert trainer.stop.is_set()


@pytest.mark.parametrize("field,value,match", [
    ("batch_size", 3, "multiple of 2"),
    ("actor.env_batch_size", 64, "env_batch_size"),
])
def test_bad_config_is_one_clear_error(field, value, match):
  c = _catch_config()
  if field.startswith("actor."):
    c.actor[field[6:]] = value
  else:
    c[field] = value
  with pytest.raises(ValueError, match=match):
    system.check_config(c, num_processes=1, num_learner_devices_global=2)


def test_unknown_game_lists_close_matches():
  pytest.importorskip("envpool")
  assert envs_lib.resolve_game("ms_pacman") == "MsPacman-v5"
  with pytest.raises(ValueError, match="Breakout-v5"):
    envs_lib.resolve_game("Breakot")


def test_human_scores_cover_the_57_envpool_games():
  pytest.importorskip("envpool")
  from s3ta_jax.impala import human_scores
  assert len(human_scores.SCORES) == 57
  for game in human_scores.SCORES:  # Every entry names a game envpool can build.
    assert envs_lib.resolve_game(game).endswith("-v5")
  np.testing.assert_allclose(human_scores.human_normalized("Breakout-v5", 16.1),
                             (16.1 - 1.7) / (30.5 - 1.7))
  assert human_scores.human_normalized("MsPacman", 6951.6) == pytest.approx(1.0)
  assert human_scores.human_normalized("catch", 1.0) is None
  # Spot checks against the published table (DeepMind atari_data.py), incl. its odd one out.
  assert human_scores.SCORES["video_pinball"] == (16256.9, 17667.9)
  assert human_scores.SCORES["skiing"] == (-17098.1, -4336.9)
  assert human_scores.SCORES["private_eye"] == (24.9, 69571.3)


class _Signal:
  """A `StopSignal` stand-in: Ctrl-C/SIGTERM arrives after update `at`."""

  def __init__(self, at: int):
    self.at, self.calls = at, 0

  @property
  def requested(self):
    self.calls += 1
    return self.calls >= self.at


class _Saves:
  """Wraps a checkpointer; records the step of each save."""

  def __init__(self, checkpointer):
    self.inner, self.steps = checkpointer, []

  def __getattr__(self, name):
    return getattr(self.inner, name)

  def save(self, step, state, wait=False):
    self.steps.append(step)
    self.inner.save(step, state, wait=wait)


def test_stop_request_saves_a_checkpoint_the_next_trainer_resumes(tmp_path):
  saves = _Saves(Checkpointer(str(tmp_path)))
  trainer = system.Trainer(_catch_config(), saves)
  clock = iter(range(100))  # One "second" per call: a timed checkpoint after every 2 updates.
  control = LoopControl(10**9, 0, checkpoint_every_s=2.0, stop_signal=_Signal(at=5),
                        clock=lambda: next(clock))
  with pytest.raises(Stopped, match="re-run the same command"):
    atari_loop.run(trainer, control)
  assert trainer.step == 5
  assert saves.steps == [2, 4, 5]  # The timed ones, then the one on stopping.
  params = learner_lib.to_local(trainer.params)
  resumed = system.Trainer(_catch_config(), Checkpointer(str(tmp_path)),
                           log=lambda *_: None)
  assert resumed.step == 5 and resumed.frames == 5 * resumed.frames_per_update
  jax.tree.map(np.testing.assert_array_equal, learner_lib.to_local(resumed.params), params)
  # A return target met ends the run normally (not as a stop), after a final save.
  control = LoopControl(10**9, 0, 1e9, stop_signal=None)
  summary = atari_loop.run(resumed, control, stop_return=-1.0,
                           games=atari_loop.RecentGames(window=1))  # Any game.
  assert summary["reached"] and resumed.step > 5
  assert summary["frames"] < resumed.config.total_frames  # It ended early, at the first game.
  assert Checkpointer(str(tmp_path)).latest_step() == resumed.step


def test_learning_curve_drops_frames_redone_after_a_resume(tmp_path):
  from s3ta_jax.impala import curves
  steps = [10, 20, 30, 40, 30, 40, 50]  # Killed at 40, resumed from the checkpoint at 20.
  records = [dict(step=s, return_mean=float(i), return_median=0.0, entropy=1.0)
             for i, s in enumerate(steps)]
  kept = after_resumes(records)
  assert [r["step"] for r in kept] == [10, 20, 30, 40, 50]
  assert [r["return_mean"] for r in kept] == [0.0, 1.0, 4.0, 5.0, 6.0]  # The resumed run's lines.
  assert curves.plot(records, "t", str(tmp_path / "c.png")) == 5
  assert (tmp_path / "c.png").stat().st_size > 1000


def test_learning_curve_skips_a_resumed_runs_refilling_window_of_games():
  from s3ta_jax.impala import curves
  games = [20, 100, 100, 7, 60, 100, 100]  # Resumed after the third line: the window restarts.
  records = [dict(step=i * 10, return_mean=float(i), episodes=g) for i, g in enumerate(games)]
  assert [r["step"] for r in curves.return_points(records)] == [0, 10, 20, 50, 60]


def test_atari_record_takes_the_first_line_past_each_milestone_after_resumes(tmp_path):
  from common import run_records
  from s3ta_jax.impala import curves
  # Killed at 600k, resumed from 400k: the redone 400k-600k lines replace the first ones.
  steps = [100_000, 260_000, 400_000, 600_000, 400_000, 520_000, 1_100_000]
  # Resumed twice: at 100 s the step goes back; at 1,000 s it goes on from a later checkpoint.
  steps.append(1_200_000)
  times = [10.0, 20.0, 30.0, 40.0, 100.0, 110.0, 125.0, 1000.0]
  records = [dict(step=s, time=t, return_mean=float(i), return_median=0.0, entropy=1.3)
             for i, (s, t) in enumerate(zip(steps, times))]
  assert curves.milestones(records) == {"0.25M": 1.0, "0.5M": 5.0, "1M": 6.0}
  write_json_atomic(str(tmp_path / "config.json"),
                            {"env_name": "Breakout", "agent": {"kind": "s3ta"}})
  write_json_atomic(str(tmp_path / "command.json"), {"command": [
      "/venv/bin/python", "-m", "launch.atari", "--config=c.py:cpu", "--config.x=(128,)"]})
  docs = tmp_path / "docs"
  rec = curves.record(str(tmp_path), records, str(docs / "figures/impala/r.png"), "S3TA",
                          str(docs))
  assert rec["frames"] == 1_200_000 and rec["value"] == 7.0
  assert rec["command"] == "python -m launch.atari --config=c.py:cpu '--config.x=(128,)'"
  assert rec["figures"] == ["figures/impala/r.png"]  # Relative to docs/, wherever run from.
  # One point at or past each 100k frames (the redone 400k-600k lines replaced), then the last,
  # each with the training seconds so far (the redone stretch's time counts, the gaps do not).
  assert rec["curve"] == [[100_000, 0.0, 0.0], [260_000, 1.0, 10.0], [400_000, 4.0, 30.0],
                          [520_000, 5.0, 40.0], [1_100_000, 6.0, 55.0], [1_200_000, 7.0, 55.0]]
  assert rec["wall_s"] == (40.0 - 10.0) + (125.0 - 100.0)  # The sessions, not the gaps.
  (tmp_path / "records").mkdir()
  write_json_atomic(str(tmp_path / "records" / "atari_s3ta.json"), rec)
  table = run_records.atari_lines(str(tmp_path / "records"))
  assert "| 0.25M | 0.5M | 1M |" in table[5]
  assert "| Breakout | s3ta | 1.00 | 5.00 | 6.00 | 7.00 (1.20M) |" in table[7]


def test_parity_compares_seed_means_at_equal_frames_and_at_equal_wall_clock(tmp_path):
  from common import run_records
  def rec(kind, value, wall_s, curve):
    return dict(kind="atari_run", title=kind, env="Breakout", agent=kind, frames=3_000_000,
                value=value, wall_s=wall_s, curve=curve, milestones={})
  records = {  # S3TA: 3M frames in 100 s and 300 s; the slower baseline's curves by seconds.
      "atari_breakout_small_s3ta.json": rec("s3ta", 10.0, 100.0, []),
      "atari_breakout_small_s3ta_seed1.json": rec("s3ta", 14.0, 300.0, []),
      "atari_breakout_small_lstm.json": rec("lstm", 20.0, 900.0, [
          [100_000, 1.0, 50.0], [200_000, 3.0, 190.0], [300_000, 5.0, 210.0]]),
      "atari_breakout_small_lstm_seed1.json": rec("lstm", 28.0, 900.0, [
          [100_000, 2.0, 150.0], [200_000, 4.0, 600.0]]),
      "atari_breakout_screen_x.json": rec("s3ta", 99.0, 1.0, []),  # Not a parity run.
  }
  for name, r in records.items():
    write_json_atomic(str(tmp_path / name), r)
  line = next(l for l in run_records.atari_lines(str(tmp_path)) if l.startswith("Parity"))
  # Means 12 and 24; at the S3TA runs' median time (200 s) the baseline's seeds were at 3.0
  # (200k frames) and 2.0 (100k frames).
  assert "S3TA 12.00 (mean of 2 seeds" in line and "the LSTM baseline 24.00 (2 seeds" in line
  assert "ratio 0.50." in line
  assert "(0.06 h of training" in line and "at 2.50 (after 0.15M frames on average)" in line


def test_topdown_table_puts_seed_means_and_human_normalised_scores_beside_table_5(tmp_path):
  from s3ta_jax.impala import topdown_table
  def rec(kind, seed, value):
    return dict(kind="atari_run", title=kind, env="MsPacman", agent=kind, seed=seed,
                frames=3_000_000, value=value, wall_s=1.0, milestones={},
                curve=[[1_000_000, value / 2, 1.0], [3_000_000, value, 2.0]])
  records = tmp_path / "docs" / "run_records"
  records.mkdir(parents=True)
  for name, r in {"atari_mspacman_small_s3ta.json": rec("s3ta", 0, 500.0),
                  "atari_mspacman_small_s3ta_seed1.json": rec("s3ta", 1, 700.0),
                  "atari_mspacman_small_l2_keys.json": rec("l2_keys", 0, 307.3),
                  "atari_breakout_small_s3ta.json": rec("s3ta", 0, 9.0)}.items():
    write_json_atomic(str(records / name), r)
  lines = topdown_table.lines(str(records))
  rows = [l for l in lines if l.startswith("| MsPacman")]
  # MsPacman: random 307.3, human 6951.6; S3TA's mean 600 -> (600 - 307.3) / 6644.3 = 4.41%.
  assert rows == ["| MsPacman | S3TA (top-down) | 600.00 (2: 500.0, 700.0) | 4.4% | 3.00M | 414.3% |",
                  "| MsPacman | L2-norm keys | 307.30 (1: 307.3) | 0.0% | 3.00M | 199.6% |"]
  assert not any(l.startswith("| Breakout") for l in lines)  # No ablation run: no row.
  assert (tmp_path / "docs" / "figures" / "impala" / "mspacman_small_compare.png").stat().st_size
