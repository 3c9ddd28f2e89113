"""Catch (Mnih et al. 2014, section 4.2): game dynamics against a plain-Python reference, and the
REINFORCE loss of the Catch agent against a hand computation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ram_jax import catch

S = catch.SIZE


# ----------------------------------------------------------------------------- reference game


def ref_step(ball_x, ball_y, dx, paddle_x, action):
  """Plain-Python Catch step, written from the rules in the `ram_jax.catch` docstring."""
  paddle_x = min(max(paddle_x + {0: -1, 1: 0, 2: 1}[action], 0), S - 2)
  x = ball_x + dx
  if x < 0:
    x, dx = 1, 1
  elif x > S - 1:
    x, dx = S - 2, -1
  y = ball_y + 1
  done = y == S - 1
  reward = 1.0 if done and x in (paddle_x, paddle_x + 1) else 0.0
  return (x, y, dx, paddle_x), reward, done


def ref_screen(ball_x, ball_y, paddle_x):
  screen = np.zeros((S, S), np.float32)
  screen[ball_y, ball_x] = 1
  screen[S - 1, paddle_x] = screen[S - 1, paddle_x + 1] = 1
  return screen


def make_state(ball_x, ball_y, dx, paddle_x):
  return catch.CatchState(*(jnp.asarray(v, jnp.int32) for v in (ball_x, ball_y, dx, paddle_x)))


def as_tuple(state):
  return tuple(int(v) for v in state)


step = jax.jit(catch.step)


def play(start, actions, key=jax.random.PRNGKey(0)):
  """Runs the JAX game and the reference side by side; asserts equal states, screens and rewards."""
  state, ref = make_state(*start), start
  rewards = []
  for t, action in enumerate(actions):
    key, sub = jax.random.split(key)
    state, screen, reward, done = step(state, jnp.int32(action), sub)
    ref, ref_reward, ref_done = ref_step(*ref, action)
    assert bool(done) == ref_done, t
    assert float(reward) == ref_reward, t
    rewards.append(ref_reward)
    if ref_done:
      assert int(state.ball_y) == 0 and int(state.paddle_x) == S // 2 - 1  # Restarted.
      ref = as_tuple(state)
    assert as_tuple(state) == ref, (t, as_tuple(state), ref)
    np.testing.assert_array_equal(np.asarray(screen), ref_screen(ref[0], ref[1], ref[3]))
  return rewards


# ----------------------------------------------------------------------------- dynamics


def test_bounce_off_left_wall():
  state, _, _, _ = step(make_state(1, 0, -1, 11), jnp.int32(1), jax.random.PRNGKey(0))
  assert as_tuple(state) == (0, 1, -1, 11)  # Touches the wall column...
  state, _, _, _ = step(state, jnp.int32(1), jax.random.PRNGKey(0))
  assert as_tuple(state) == (1, 2, 1, 11)  # ...then moves away from it.


def test_bounce_off_right_wall():
  state, _, _, _ = step(make_state(S - 1, 3, 1, 11), jnp.int32(1), jax.random.PRNGKey(0))
  assert as_tuple(state) == (S - 2, 4, -1, 11)


def test_paddle_clamped_at_both_edges():
  play((5, 0, 1, 11), [0] * 15)  # 15 lefts from column 11: stops at 0.
  state = make_state(5, 0, 1, 11)
  for _ in range(15):
    state, _, _, _ = step(state, jnp.int32(catch.LEFT), jax.random.PRNGKey(0))
  assert int(state.paddle_x) == 0
  for _ in range(S):  # Crosses a restart (paddle re-centred), then clamps on the right.
    state, _, _, _ = step(state, jnp.int32(catch.RIGHT), jax.random.PRNGKey(0))
  assert int(state.paddle_x) == S - 2
  play((5, 0, 1, 20), [2] * 5)


def test_catch_and_miss_rewards_and_restart():
  # Landing column of each start, from the reference (the paddle does not affect the ball):
  def landing(x, dx):
    ref = (x, 0, dx, 11)
    for _ in range(S - 1):
      ref, _, _ = ref_step(*ref, 1)
    return ref[0]
  for x0, dx in [(0, 1), (3, -1), (11, 1), (20, -1), (23, 1), (23, -1)]:
    col = landing(x0, dx)
    # Move the paddle under the landing column in the first moves, then stay: a catch.
    moves = col - 11
    actions = [2 if moves > 0 else 0] * abs(moves) + [1] * (S - 1 - abs(moves))
    assert play((x0, 0, dx, 11), actions) == [0.0] * (S - 2) + [1.0]
    # Park the paddle at the far side: a miss.
    far = [0] * 12 if col > 11 else [2] * 12
    assert play((x0, 0, dx, 11), far + [1] * (S - 1 - 12)) == [0.0] * (S - 1)


def test_reward_only_on_last_step_and_game_length():
  key = jax.random.PRNGKey(3)
  state = catch.reset(key)
  lengths, t = [], 0
  for i in range(3 * catch.STEPS_PER_GAME):
    state, _, reward, done = step(state, jnp.int32(1), jax.random.PRNGKey(i))
    t += 1
    if not bool(done):
      assert float(reward) == 0.0
    else:
      lengths.append(t)
      t = 0
  assert lengths == [catch.STEPS_PER_GAME] * 3


def test_random_scripted_games_match_reference():
  rng = np.random.default_rng(0)
  for x0, dx in [(0, -1), (23, 1), (7, 1), (16, -1)]:
    play((x0, 0, dx, 11), rng.integers(0, 3, size=60).tolist(), key=jax.random.PRNGKey(x0))


def test_reset_distribution():
  states = catch.batch_reset(jax.random.split(jax.random.PRNGKey(0), 4800))
  assert np.all(np.asarray(states.ball_y) == 0)
  assert np.all(np.asarray(states.paddle_x) == S // 2 - 1)
  counts = np.bincount(np.asarray(states.ball_x), minlength=S)
  assert counts.shape == (S,) and counts.min() > 120 and counts.max() < 280  # ~200 each.
  assert set(np.unique(np.asarray(states.ball_dx)).tolist()) == {-1, 1}
  assert abs(float(np.mean(np.asarray(states.ball_dx)))) < 0.06


def test_vmapped_batch_equals_per_game_loop():
  n, steps = 16, 30
  keys = jax.random.split(jax.random.PRNGKey(1), n)
  states = catch.batch_reset(keys)
  actions = jax.random.randint(jax.random.PRNGKey(2), (steps, n), 0, 3)
  step_keys = jax.random.split(jax.random.PRNGKey(4), steps * n).reshape(steps, n, -1)
  batch_step = jax.jit(catch.batch_step)
  singles = [jax.tree.map(lambda v: v[i], states) for i in range(n)]
  for t in range(steps):
    states, screens, rewards, dones = batch_step(states, actions[t], step_keys[t])
    for i in range(n):
      singles[i], screen, reward, done = step(singles[i], actions[t, i], step_keys[t, i])
      assert as_tuple(singles[i]) == tuple(int(v[i]) for v in states)
      np.testing.assert_array_equal(np.asarray(screens[i]), np.asarray(screen))
      assert float(rewards[i]) == float(reward) and bool(dones[i]) == bool(done)


# ----------------------------------------------------------------------------- REINFORCE agent

from ram_jax import catch_agent  # noqa: E402


def test_returns_to_go_matches_loop():
  rewards = np.random.default_rng(0).integers(0, 2, size=(7, 3)).astype(np.float32)
  expected = np.zeros_like(rewards)
  for b in range(3):
    for t in range(7):
      expected[t, b] = rewards[t:, b].sum()
  np.testing.assert_allclose(np.asarray(catch_agent.returns_to_go(jnp.asarray(rewards))), expected)


def _hand_grads(logits, actions, samples, means, std, baselines, rewards, baseline_weight):
  """Eq. (2) by hand: d loss / d (logits, means, baselines) for loss = -1/B Σ log π · (R - b)."""
  T, B = rewards.shape
  returns = np.array([[rewards[t:, b].sum() for b in range(B)] for t in range(T)])
  adv = returns - baselines
  probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  onehot = np.eye(logits.shape[-1])[actions]
  d_logits = -(onehot - probs) * adv[..., None] / B  # ∇ log softmax = onehot − π.
  d_means = -((samples - means) / std**2) * adv[..., None] / B  # ∇_μ log N(l; μ, σ²).
  d_baselines = -baseline_weight * adv / B  # ½ (R − b)² → −(R − b); the policy term has sg.
  return d_logits, d_means, d_baselines


def test_reinforce_loss_gradient_matches_hand_computation():
  rng = np.random.default_rng(1)
  T, B, A, std = 4, 3, 3, 0.2
  logits = rng.normal(size=(T, B, A)).astype(np.float32)
  actions = rng.integers(0, A, size=(T, B))
  means = rng.uniform(-0.5, 0.5, size=(T, B, 2)).astype(np.float32)
  samples = (means + std * rng.normal(size=(T, B, 2))).astype(np.float32)
  baselines = rng.uniform(0, 1, size=(T, B)).astype(np.float32)
  rewards = np.zeros((T, B), np.float32)
  rewards[-1] = [1.0, 0.0, 1.0]

  def loss(logits, means, baselines):
    from ram_jax.model import gaussian_log_prob
    loc_log_probs = gaussian_log_prob(jnp.asarray(samples), means, std)
    return catch_agent.reinforce_loss(logits, jnp.asarray(actions), loc_log_probs, baselines,
                                      jnp.asarray(rewards), baseline_weight=0.5)[0]

  grads = jax.grad(loss, argnums=(0, 1, 2))(jnp.asarray(logits), jnp.asarray(means),
                                            jnp.asarray(baselines))
  expected = _hand_grads(logits, actions, samples, means, std, baselines, rewards, 0.5)
  for got, want in zip(grads, expected):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_agent_loss_gradient_on_heads_matches_hand_computation():
  """Through a whole game: the heads' bias gradients equal eq. (2) summed over games and frames.

  The sampled actions must carry no gradient, and the baseline must see only its own regression.
  """
  agent = catch_agent.CatchAgent(hidden=8, glimpse_features=4, location_features=4,
                                 glimpse_output=8, location_std=0.3)
  params = catch_agent.init_params(agent, jax.random.PRNGKey(0))
  B = 6
  env_state = catch.batch_reset(jax.random.split(jax.random.PRNGKey(1), B))
  loss_fn = catch_agent.make_loss_fn(agent, baseline_weight=1.0, entropy_weight=0.0)
  grads, (_, _, ro) = jax.grad(loss_fn, has_aux=True)(params, env_state, jax.random.PRNGKey(2))
  out = jax.tree.map(np.asarray, ro.outputs)
  rewards = np.asarray(ro.rewards)
  assert rewards.shape == (catch.STEPS_PER_GAME, B) and np.all(rewards[:-1] == 0)
  assert np.all(np.asarray(ro.dones)[-1]) and not np.any(np.asarray(ro.dones)[:-1])
  d_logits, d_means, d_baselines = _hand_grads(
      out["logits"], np.asarray(ro.actions), out["location_sample"], out["location_mean"],
      0.3, out["baseline"], rewards, 1.0)
  d_pre_tanh = d_means * (1 - out["location_mean"] ** 2)  # mean = tanh(Linear(h)).
  np.testing.assert_allclose(np.asarray(grads["action_net"]["bias"]), d_logits.sum((0, 1)),
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(np.asarray(grads["location_net"]["mean"]["bias"]),
                             d_pre_tanh.sum((0, 1)), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(np.asarray(grads["baseline"]["bias"]), [d_baselines.sum()],
                             rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- training loop


@pytest.mark.parametrize("override, message", [
    (dict(num_envs=0), "num_envs"),
    (dict(location_std=0.0), "location_std"),
    (dict(num_scales=4), "use fewer scales"),  # 6·2³ = 48 > 24.
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(lr_schedule="linear"), "lr_schedule"),
    (dict(workdir=""), "--config.workdir"),
])
def test_bad_config_gives_one_clear_error(override, message):
  from configs import ram_catch
  from ram_jax import catch_loop
  from common.checkpoint import Checkpointer
  from common.errors import UsageError
  from common.metrics import read_metrics
  from common.workdir import load_workdir
  config = ram_catch.get_config()
  config.update(override)
  with pytest.raises(UsageError, match=message):
    catch_loop.check_config(config)


def _tiny_catch_config(workdir, **overrides):
  from configs import ram_catch
  c = ram_catch.get_config()
  c.update(dict(num_envs=4, hidden=16, glimpse_features=8, location_features=8, glimpse_output=16,
                total_frames=4 * 4 * catch.STEPS_PER_GAME, eval_every_steps=2, num_eval_episodes=8,
                progress_every_s=0.0, checkpoint_every_s=0.0, workdir=str(workdir),
                lr_schedule="constant"))  # A cosine schedule follows total_frames, which we vary.
  c.update(overrides)
  return c


def test_launch_end_to_end_and_resume(tmp_path):
  import json
  from ram_jax import catch_loop
  from common.checkpoint import Checkpointer
  from common.errors import UsageError
  from common.metrics import read_metrics
  from common.workdir import load_workdir
  straight = _tiny_catch_config(tmp_path / "straight")
  results = catch_loop.train(straight)
  records = read_metrics(str(tmp_path / "straight"))
  assert [r["step"] for r in records if "catch_rate" in r] == [2, 4]
  assert all(r["frames"] == r["step"] * 4 * catch.STEPS_PER_GAME for r in records)
  assert any("train_catch_rate" in r and "frames_per_s" in r for r in records)
  with open(tmp_path / "straight" / "results.json") as f:
    assert json.load(f) == results
  assert results["step"] == 4 and results["frames"] == 4 * 4 * catch.STEPS_PER_GAME
  assert results["catch_rate"] in [k / 8 for k in range(9)]  # 8 games: a multiple of 1/8.

  # Stopped after 2 steps, re-run to 4: same final state (params, Adam, games, RNG) as straight.
  catch_loop.train(_tiny_catch_config(tmp_path / "resumed", total_frames=2 * 4 * 23))
  catch_loop.train(_tiny_catch_config(tmp_path / "resumed"))
  like = catch_agent.init_train_state(catch_agent.make_agent(straight),
                                      catch_agent.make_optimizer(straight), 4, jax.random.PRNGKey(9))
  states = []
  for name in ("straight", "resumed"):
    ckpt = Checkpointer(str(tmp_path / name))
    assert ckpt.latest_step() == 4
    states.append(ckpt.restore(like))
    ckpt.close()
  jax.tree.map(np.testing.assert_array_equal, *states)
  # The loader of the picture/evaluation entry points reads the same latest parameters.
  from ram_jax import workdir as ram_workdir
  _, params = load_workdir(str(tmp_path / "straight"), ram_workdir.restore_catch,
                                   ram_workdir.catch_mismatch)
  jax.tree.map(np.testing.assert_array_equal, params, catch_agent.TrainState(*states[0]).params)
  with pytest.raises(UsageError, match="is not a launch.mnist workdir"):
    load_workdir(str(tmp_path / "straight"), ram_workdir.restore_mnist,
                         ram_workdir.mnist_mismatch)

  with pytest.raises(UsageError, match="different config.*hidden"):
    catch_loop.train(_tiny_catch_config(tmp_path / "resumed", hidden=32))
