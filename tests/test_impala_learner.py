"""IMPALA learner: V-trace loss against a numpy loop of Espeholt et al. (2018) eqs. 1-4, RMSProp
against its update formula, and the data-parallel update against the single-device update."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from common.checkpoint import Checkpointer
from s3ta_jax.agent_config import agent_config
from s3ta_jax.impala import agents, learner as learner_lib, rollout, system
from s3ta_jax.impala import tiny_agent as tiny_agent_lib


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def numpy_impala_loss(logits, values, mu_logits, actions, rewards, first, gamma, ent_cost,
                      base_cost):
  """Direct loop over the paper's recursion, one trajectory at a time."""
  t1, b, _ = logits.shape
  t = t1 - 1
  pg = base = ent = 0.0
  for j in range(b):
    pi, mu = _softmax(logits[:, j]), _softmax(mu_logits[:, j])
    a = actions[:, j]
    rho = pi[np.arange(t1), a] / mu[np.arange(t1), a]
    r = np.clip(rewards[1:, j], -1, 1)
    disc = gamma * (1.0 - first[1:, j])
    v = values[:, j]
    vs = np.zeros(t + 1)
    vs[t] = v[t]
    for s in reversed(range(t)):  # v_s = V(x_s) + rho_s delta_s + gamma c_s (v_{s+1} - V(x_{s+1}))
      delta = min(rho[s], 1.0) * (r[s] + disc[s] * v[s + 1] - v[s])
      vs[s] = v[s] + delta + disc[s] * min(rho[s], 1.0) * (vs[s + 1] - v[s + 1])
    for s in range(t):
      adv = min(rho[s], 1.0) * (r[s] + disc[s] * vs[s + 1] - v[s])
      pg -= adv * np.log(pi[s, a[s]])
      base += base_cost * 0.5 * (vs[s] - v[s]) ** 2
      ent += ent_cost * np.sum(pi[s] * np.log(pi[s]))
  return pg, base, ent


def test_vtrace_loss_matches_numpy_recursion():
  rng = np.random.default_rng(0)
  t1, b, a = 7, 3, 4
  logits = rng.normal(size=(t1, b, a)).astype(np.float32)
  mu_logits = rng.normal(size=(t1, b, a)).astype(np.float32)
  values = rng.normal(size=(t1, b)).astype(np.float32)
  actions = rng.integers(0, a, size=(t1, b)).astype(np.int32)
  rewards = rng.normal(scale=2.0, size=(t1, b)).astype(np.float32)  # Some outside [-1, 1].
  first = rng.random((t1, b)) < 0.25
  cfg = learner_lib.LossConfig(discount=0.9, entropy_cost=0.05, baseline_cost=0.5)
  loss, m = learner_lib.vtrace_loss(jnp.asarray(logits), jnp.asarray(values),
                                    jnp.asarray(mu_logits), jnp.asarray(actions),
                                    jnp.asarray(rewards), jnp.asarray(first), cfg)
  pg, base, ent = numpy_impala_loss(logits, values, mu_logits, actions, rewards,
                                    first.astype(np.float64), 0.9, 0.05, 0.5)
  np.testing.assert_allclose(float(m["pg_loss"]), pg, rtol=1e-4)
  np.testing.assert_allclose(float(m["baseline_loss"]), base, rtol=1e-4)
  np.testing.assert_allclose(float(m["entropy"]) * -0.05, ent, rtol=1e-4)
  np.testing.assert_allclose(float(loss), pg + base + ent, rtol=1e-4)
  spread = sum(abs(values[t, i] - values[t].mean()) for t in range(t1 - 1) for i in range(b))
  np.testing.assert_allclose(float(m["value_spread"]), spread, rtol=1e-4)


def _opt_config(mode="global_norm", clip=1e9):
  return ml_collections.ConfigDict(dict(optimizer="rmsprop", learning_rate=2e-4, decay=0.99,
                                        eps=0.01, momentum=0.0, grad_clip_mode=mode,
                                        grad_clip=clip, rmsprop_initial_scale=0.0))


@pytest.mark.parametrize("initial_scale", [0.0, 1.0])  # optax's start; TF1's (ms = ones).
def test_rmsprop_matches_tf_formula(initial_scale):
  config = _opt_config()
  config.rmsprop_initial_scale = initial_scale
  opt = learner_lib.make_optimizer(config)
  p = jnp.array([1.0, -2.0])
  state = opt.init(p)
  ms = np.full(2, initial_scale)
  expected = np.array([1.0, -2.0])
  for g in ([0.5, -3.0], [1.0, 2.0]):
    g = np.array(g)
    ms = 0.99 * ms + 0.01 * g**2
    expected = expected - 2e-4 * g / np.sqrt(ms + 0.01)  # eps inside the sqrt, as TF RMSProp.
    upd, state = opt.update(jnp.asarray(g, jnp.float32), state, p)
    p = p + upd
  np.testing.assert_allclose(np.asarray(p), expected, rtol=1e-6)


def test_adam_option_matches_formula():
  config = _opt_config()
  config.update(optimizer="adam", learning_rate=1e-3, decay=0.999, eps=1e-8)
  opt = learner_lib.make_optimizer(config)
  p = jnp.array([1.0, -2.0])
  state = opt.init(p)
  m, v, expected = np.zeros(2), np.zeros(2), np.array([1.0, -2.0])
  for t, g in enumerate(([0.5, -3.0], [1.0, 2.0]), start=1):
    g = np.array(g)
    m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
    expected = expected - 1e-3 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    upd, state = opt.update(jnp.asarray(g, jnp.float32), state, p)
    p = p + upd
  np.testing.assert_allclose(np.asarray(p), expected, rtol=1e-5)
  config.optimizer = "sgd"
  with pytest.raises(ValueError, match="rmsprop"):
    learner_lib.make_optimizer(config)


def test_gradient_clipping_modes():
  g = jnp.array([3.0, 4.0])
  clip_norm = learner_lib.make_clip(_opt_config("global_norm", 1.0))
  out, _ = clip_norm.update(g, clip_norm.init(g))
  np.testing.assert_allclose(np.asarray(out), [0.6, 0.8], rtol=1e-6)
  clip_value = learner_lib.make_clip(_opt_config("value", 3.5))
  out, _ = clip_value.update(g, clip_value.init(g))
  np.testing.assert_allclose(np.asarray(out), [3.0, 3.5])
  with pytest.raises(ValueError, match="grad_clip_mode"):
    learner_lib.make_optimizer(_opt_config("bogus"))


def random_batch(agent, batch, unroll, seed):
  rng = np.random.default_rng(seed)
  h, w = agent.frame_shape
  t1 = unroll + 1
  traj = dict(
      obs=rng.integers(0, 256, size=(t1, batch, h, w, 3), dtype=np.uint8),
      first=rng.random((t1, batch)) < 0.1,
      prev_action=rng.integers(0, agent.num_actions, size=(t1, batch)).astype(np.int32),
      reward=rng.normal(size=(t1, batch)).astype(np.float32),
      action=rng.integers(0, agent.num_actions, size=(t1, batch)).astype(np.int32),
      logits=rng.normal(size=(t1, batch, agent.num_actions)).astype(np.float32))
  init = jax.tree.map(lambda x: rng.normal(size=x.shape).astype(np.float32),
                      agent.initial_state(batch))
  return traj, init


def tiny_agent(num_actions=3):
  cfg = tiny_agent_lib.tiny_config()
  cfg.update(dict(frame_height=12, frame_width=10, channels=4, hidden=8))
  return agents.build(cfg, num_actions)


def _train_config():
  c = _opt_config("global_norm", 40.0)
  c.learning_rate = 1e-2  # Large steps, so a wrong gradient reduction shows in the params.
  return c


def test_two_device_update_equals_one_device_update():
  agent = tiny_agent()
  params0 = agent.init_params(jax.random.PRNGKey(0))
  batches = [random_batch(agent, 4, 5, s) for s in range(3)]
  results = []
  for devices in ([jax.devices()[0]], jax.devices()[:2]):
    lrn = learner_lib.Learner(agent, _train_config(), devices, learner_lib.LossConfig())
    params, opt_state = lrn.init(params0)
    for traj, init in batches:
      params, opt_state, metrics = lrn.update(params, opt_state, *lrn.shard_batch(traj, init))
    results.append(learner_lib.to_local(params))
  assert len(jax.devices()) >= 2
  moved = jax.tree.map(lambda a, b: np.abs(a - b).max(), results[0], learner_lib.to_local(params0))
  assert max(jax.tree.leaves(moved)) > 1e-3  # The updates did something.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), *results)


def test_attention_health_matches_numpy_per_head():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 2, 4, 5, 6)) * np.array([0.0, 1.0, 3.0, 30.0])[:, None, None]
  weights = _softmax(logits.reshape(3, 2, 4, 30)).reshape(logits.shape)
  out = learner_lib.attention_health(jnp.asarray(weights, jnp.float32))
  flat = weights.reshape(6, 4, 30)
  want_max = np.array([sum(flat[i, n].max() for i in range(6)) for n in range(4)])
  want_ent = np.array([sum(-np.sum(flat[i, n] * np.log(flat[i, n])) for i in range(6))
                       for n in range(4)])
  np.testing.assert_allclose(out["attention_max"], want_max, rtol=1e-5)
  np.testing.assert_allclose(out["attention_entropy"], want_ent, rtol=1e-4, atol=1e-5)
  assert float(out["attention_count"]) == 6
  # Head 0 (zero logits) is uniform: max 1/30, entropy log 30 per map.
  np.testing.assert_allclose(out["attention_max"][0] / 6, 1 / 30, rtol=1e-5)
  np.testing.assert_allclose(out["attention_entropy"][0] / 6, np.log(30), rtol=1e-5)
  # Baselines have no maps; the tiny agent's are 1x1.
  for shape in [(3, 2, 0, 27, 20), (3, 2, 1, 1, 1)]:
    assert learner_lib.attention_health(jnp.ones(shape))["attention_max"].shape == (0,)


def _centred_s3ta(rate):
  cfg = agent_config("small")
  cfg.update(dict(frame_height=24, frame_width=20, conv_channels=(4, 8), conv_lstm_channels=12,
                  query_hidden=(8,), answer_hidden=(8,), core_lstm=8, head_hidden=8,
                  center_answers="running", answer_mean_rate=rate))
  return agents.build(cfg, 3)


def test_running_answer_mean_follows_a_numpy_ema_of_the_batch_means():
  """The learner keeps `answer_stats.mean` at the EMA (numpy reference: 1/(n+1) for the first
  1/rate updates, then `rate`) of each batch's mean answer, read from an unroll of the params
  before the update; the same on two learner devices; the agent reads answers minus it."""
  rate = 0.4
  agent = _centred_s3ta(rate)
  params0 = agent.init_params(jax.random.PRNGKey(0))
  np.testing.assert_array_equal(params0["answer_stats"]["mean"], 0.0)
  # Not an optimised leaf: the optimiser state holds nothing for it.
  opt_state = learner_lib.Learner(agent, _train_config(), jax.devices()[:1],
                                  learner_lib.LossConfig()).init(params0)[1]
  assert "answer_stats" not in str(jax.tree_util.tree_structure(opt_state))
  batches = [random_batch(agent, 4, 3, s) for s in range(4)]
  results = []
  for devices in ([jax.devices()[0]], jax.devices()[:2]):
    lrn = learner_lib.Learner(agent, _train_config(), devices, learner_lib.LossConfig())
    params, opt_state = lrn.init(params0)
    expected = np.zeros_like(params0["answer_stats"]["mean"])
    for n, (traj, init) in enumerate(batches):
      local = learner_lib.to_local(params)
      prev_action, prev_reward, reset = rollout.agent_inputs(
          traj["first"], traj["reward"], traj["prev_action"], agent.reward_clip)
      _, v = agent.module.apply(local, traj["obs"], prev_action, prev_reward, reset, init,
                                method="unroll", mutable=["intermediates"])
      batch_mean = np.asarray(v["intermediates"]["answers"][0]).reshape(
          -1, expected.shape[0]).mean(0)
      step = max(rate, 1.0 / (n + 1))
      expected = expected + step * (batch_mean - expected)
      params, opt_state, _ = lrn.update(params, opt_state, *lrn.shard_batch(traj, init))
      np.testing.assert_allclose(learner_lib.to_local(params)["answer_stats"]["mean"], expected,
                                 rtol=1e-4, atol=1e-5)
    results.append(learner_lib.to_local(params))
  assert np.abs(expected).max() > 1e-2  # Not trivially zero.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), *results)
  # The answer processor reads the answers minus the stored mean, in a step as in an unroll.
  traj, init = batches[0]
  params = results[0]
  _, v = agent.module.apply(params, traj["obs"][0], traj["prev_action"][0],
                            traj["reward"][0] * 0, traj["first"][0], init, method="step",
                            mutable=["intermediates"])
  answers = np.asarray(v["intermediates"]["answers"][0]).reshape(4, -1)
  inputs = np.asarray(v["intermediates"]["answer_inputs"][0])
  queries = np.asarray(v["intermediates"]["queries"][0]).reshape(4, -1)
  q = queries.shape[-1]
  np.testing.assert_allclose(inputs[:, q:q + answers.shape[-1]],
                             answers - params["answer_stats"]["mean"], rtol=1e-5, atol=1e-5)


def test_a_checkpoint_whose_optimiser_state_covers_the_answer_mean_restores(tmp_path):
  """Checkpoints written before the running answer mean was a collection of its own hold optimiser
  state for it too; they restore, with the optimiser state of the trained parameters only (the
  state an optimiser of those alone reaches with the same gradients: Adam is per leaf)."""
  agent = _centred_s3ta(0.5)
  rng = np.random.default_rng(0)
  random_like = lambda tree: jax.tree.map(
      lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), tree)
  variables = random_like(agent.init_params(jax.random.PRNGKey(0)))
  config = _train_config()
  config.update(optimizer="adam", eps=1e-8)
  optimizer = learner_lib.make_optimizer(config)
  # Training gave the answer mean zero gradients (it is read through a stop_gradient).
  grads = {**random_like(agents.trained(variables)),
           **jax.tree.map(jnp.zeros_like, agents.non_trained(variables))}
  _, old_layout = optimizer.update(grads, optimizer.init(variables), variables)
  checkpointer = Checkpointer(str(tmp_path))
  checkpointer.save(7, dict(params=variables, opt_state=old_layout, frames=np.int64(700),
                            step=np.int64(7)), wait=True)
  state = system.restore_learner_state(checkpointer, agent.init_params(jax.random.PRNGKey(1)),
                                       optimizer)
  checkpointer.close()
  jax.tree.map(np.testing.assert_array_equal, state["params"], variables)
  params = agents.trained(variables)
  _, expected = optimizer.update(agents.trained(grads), optimizer.init(params), params)
  jax.tree.map(np.testing.assert_array_equal, state["opt_state"], expected)
  assert int(state["frames"]) == 700 and int(state["step"]) == 7
