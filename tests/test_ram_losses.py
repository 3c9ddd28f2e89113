"""RAM's hybrid loss: REINFORCE gradients by hand, and which parameters each term trains."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ram_jax import losses, model


def test_reinforce_gradient_matches_hand_computation():
  """d/dμ of -1/M Σ_i Σ_t log N(l; μ, σ²)(R - b) is -(R - b)(l - μ)/σ² / M; b gets no gradient."""
  rng = np.random.default_rng(0)
  m, t, std = 5, 3, 0.3
  mean = rng.normal(size=(m, t, 2)).astype(np.float32)
  sample = (mean + std * rng.normal(size=(m, t, 2))).astype(np.float32)
  reward = np.array([1, 0, 1, 1, 0], np.float32)
  baseline = rng.uniform(size=(m, t)).astype(np.float32)

  def loss(mu, b):
    return losses.reinforce_loss(model.gaussian_log_prob(sample, mu, std), reward, b)

  grad_mu, grad_b = jax.grad(loss, argnums=(0, 1))(mean, baseline)
  advantage = reward[:, None] - baseline
  expected = -advantage[..., None] * (sample - mean) / std**2 / m
  np.testing.assert_allclose(grad_mu, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(grad_b, 0.0)
  # Value: -1/M Σ log π · (R - b).
  log_prob = np.sum(-0.5 * ((sample - mean) / std)**2 - np.log(std * np.sqrt(2 * np.pi)), -1)
  np.testing.assert_allclose(loss(mean, baseline), -np.sum(log_prob * advantage) / m, rtol=1e-5)


def test_baseline_loss_gradient():
  rng = np.random.default_rng(1)
  b = rng.uniform(size=(4, 3)).astype(np.float32)
  reward = np.array([1, 0, 0, 1], np.float32)
  grad = jax.grad(losses.baseline_loss, argnums=1)(reward, b)
  np.testing.assert_allclose(grad, 2 * (b - reward[:, None]) / 4, rtol=1e-6)


def test_reward_and_cross_entropy():
  logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]], np.float32)
  labels = np.array([0, 2])
  np.testing.assert_array_equal(losses.classification_reward(logits, labels), [1.0, 0.0])
  _, metrics = losses.hybrid_loss({"logits": logits}, labels)
  log_softmax = logits - np.log(np.sum(np.exp(logits), -1, keepdims=True))
  np.testing.assert_allclose(metrics["cross_entropy"], -np.mean(log_softmax[[0, 1], labels]),
                             rtol=1e-6)
  assert float(metrics["accuracy"]) == 0.5


def test_probability_reward_is_the_softmax_of_the_label_and_feeds_reinforce():
  logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]], np.float32)
  labels = np.array([0, 2])
  softmax = np.exp(logits) / np.sum(np.exp(logits), -1, keepdims=True)
  expected = softmax[[0, 1], labels]
  np.testing.assert_allclose(losses.probability_reward(logits, labels), expected, rtol=1e-6)
  log_probs, baselines = np.full((2, 3), -1.0, np.float32), np.full((2, 3), 0.25, np.float32)
  _, metrics = losses.hybrid_loss(dict(logits=logits, log_probs=log_probs, baselines=baselines),
                                  labels, reward="probability")
  # -(1/M) Σ_i Σ_t log π (R_i - b): R is p(label), while accuracy stays the 0/1 reward's mean.
  np.testing.assert_allclose(metrics["reinforce"], np.mean(3 * (expected - 0.25)), rtol=1e-6)
  assert float(metrics["accuracy"]) == 0.5


def test_leave_one_out_baseline_is_the_other_episodes_mean_and_feeds_reinforce():
  rewards = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0], np.float32)  # Two images, 3 episodes each.
  expected = np.array([[np.mean(np.delete(g, i)) for i in range(3)]
                       for g in rewards.reshape(2, 3)]).reshape(-1)
  np.testing.assert_allclose(losses.leave_one_out_baseline(rewards, 3), expected)
  with pytest.raises(ValueError, match="samples_per_image=4"):
    losses.leave_one_out_baseline(rewards, 4)
  logits = np.eye(3, dtype=np.float32)[[0, 1, 1, 2, 2, 2]] * 5  # Argmax 0, 1, 1, 2, 2, 2.
  labels = np.array([0, 0, 0, 2, 2, 2])  # So the 0/1 rewards are `rewards`.
  log_probs = np.arange(12, dtype=np.float32).reshape(6, 2)
  outputs = dict(logits=logits, log_probs=log_probs, baselines=np.full((6, 2), 0.5, np.float32))
  _, metrics = losses.hybrid_loss(outputs, labels, samples_per_image=3)
  # -(1/B) Σ_i Σ_t log π_it (R_i - b_i), b_i from the leave-one-out mean, not the learned 0.5.
  reference = -np.mean(np.sum(log_probs * (rewards - expected)[:, None], axis=1))
  np.testing.assert_allclose(metrics["reinforce"], reference, rtol=1e-6)
  np.testing.assert_allclose(metrics["baseline_mse"], np.mean((rewards - 0.5)**2), rtol=1e-6)


@functools.lru_cache(maxsize=2)  # Shared by the tests below: one compile per setting.
def _ram_and_grads(reinforce_to_core: bool = False):
  """A tiny RAM, its outputs, and the gradient of each loss term (one jit for all three)."""
  ram = model.RAM(glimpse_size=4, num_scales=2, num_glimpses=3, hidden=16, glimpse_features=8,
                  location_features=8, glimpse_output=16, location_std=0.2,
                  reinforce_to_core=reinforce_to_core)
  rng = np.random.default_rng(2)
  images = rng.uniform(size=(8, 16, 16, 1)).astype(np.float32)
  labels = rng.integers(0, 10, 8)
  params = ram.init(jax.random.PRNGKey(0), images, jax.random.PRNGKey(1))["params"]

  def loss(p, term):
    out = ram.apply({"params": p}, images, jax.random.PRNGKey(5))
    reward = losses.classification_reward(out["logits"], labels)
    if term == "cross_entropy":
      return losses.hybrid_loss({"logits": out["logits"]}, labels)[0]
    if term == "reinforce":
      return losses.reinforce_loss(out["log_probs"], reward, out["baselines"])
    return losses.baseline_loss(reward, out["baselines"])

  @jax.jit
  def outputs_and_grads(p):
    grads = {term: jax.grad(loss)(p, term) for term in ("cross_entropy", "reinforce", "baseline")}
    return ram.apply({"params": p}, images, jax.random.PRNGKey(5)), grads

  out, grads = outputs_and_grads(params)
  return out, labels, grads


def _norms(grads):
  flat = jax.tree_util.tree_flatten_with_path(grads)[0]
  return {jax.tree_util.keystr(path): float(jnp.abs(g).sum()) for path, g in flat}


@pytest.mark.parametrize("reinforce_to_core", [False, True])
def test_gradient_routing(reinforce_to_core):
  """Cross-entropy trains glimpse, core and action nets; REINFORCE the location net (and, with
  `reinforce_to_core`, the core and glimpse nets too); the baseline loss only the baseline head."""
  grads = _ram_and_grads(reinforce_to_core)[2]
  reinforce_trains = ("location_net",) + (("glimpse_net", "core") if reinforce_to_core else ())
  for term, trained in [("cross_entropy", ("glimpse_net", "core", "action_net")),
                        ("reinforce", reinforce_trains), ("baseline", ("baseline",))]:
    norms = _norms(grads[term])
    for name, norm in norms.items():
      if any(f"'{part}'" in name for part in trained):
        assert norm > 0, (term, name)
      else:
        assert norm == 0, (term, name)


def test_position_loss_is_linear_in_h_and_trains_the_core_not_the_policy():
  """`position_head`: digit_positions = W h_t + c; the loss is their mean squared error to the
  digit's centre; its gradient reaches the glimpse net, core and head, not the policy, baseline
  or classifier."""
  ram = model.RAM(glimpse_size=4, num_scales=2, num_glimpses=3, hidden=16, glimpse_features=8,
                  location_features=8, glimpse_output=16, location_std=0.2, position_head=True)
  rng = np.random.default_rng(3)
  images = rng.uniform(size=(8, 16, 16, 1)).astype(np.float32)
  target = rng.uniform(-1, 1, (8, 2)).astype(np.float32)
  params = ram.init(jax.random.PRNGKey(0), images, jax.random.PRNGKey(1))["params"]
  out = ram.apply({"params": params}, images, jax.random.PRNGKey(5))
  head = params["position_net"]
  expected = np.asarray(out["hidden"]) @ np.asarray(head["kernel"]) + np.asarray(head["bias"])
  np.testing.assert_allclose(out["digit_positions"], expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(losses.position_loss(out["digit_positions"], target),
                             np.mean((expected - target[:, None]) ** 2), rtol=1e-5)
  grads = jax.grad(lambda p: losses.position_loss(
      ram.apply({"params": p}, images, jax.random.PRNGKey(5))["digit_positions"], target))(params)
  for name, norm in _norms(grads).items():
    trained = any(f"'{part}'" in name for part in ("glimpse_net", "core", "position_net"))
    assert (norm > 0) == trained, name


def test_full_model_reinforce_gradient_by_hand():
  """∇_W of the REINFORCE term for the location net's mean = tanh(W h + c), written out."""
  out, labels, all_grads = _ram_and_grads()
  grads = all_grads["reinforce"]
  std = 0.2
  reward = (np.argmax(np.asarray(out["logits"]), -1) == labels).astype(np.float64)
  h = np.asarray(out["hidden"][:, :-1]).astype(np.float64)  # h_1..h_{T-1} produced l_1..l_{T-1}.
  mean = np.asarray(out["location_means"]).astype(np.float64)
  sample = np.asarray(out["sampled_locations"]).astype(np.float64)
  advantage = reward[:, None] - np.asarray(out["baselines"]).astype(np.float64)
  # d(-Σ adv log π)/d(pre-tanh) = -adv (l - μ)/σ² (1 - μ²); averaged over the batch.
  delta = -advantage[..., None] * (sample - mean) / std**2 * (1 - mean**2) / h.shape[0]
  grad_w = np.einsum("bth,btk->hk", h, delta)
  grad_c = delta.sum((0, 1))
  got = grads["step"]["location_net"]["mean"]
  np.testing.assert_allclose(got["kernel"], grad_w, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(got["bias"], grad_c, rtol=1e-4, atol=1e-6)


def test_reinforce_to_core_changes_only_where_reinforce_flows():
  """Same forward pass and the same location-net gradient either way; only REINFORCE's reach
  into the core and glimpse nets differs."""
  out_off, _, grads_off = _ram_and_grads(False)
  out_on, _, grads_on = _ram_and_grads(True)
  np.testing.assert_array_equal(out_off["logits"], out_on["logits"])
  np.testing.assert_array_equal(out_off["log_probs"], out_on["log_probs"])
  for term in ("cross_entropy", "baseline"):
    jax.tree.map(np.testing.assert_array_equal, grads_off[term], grads_on[term])
  np.testing.assert_allclose(grads_on["reinforce"]["step"]["location_net"]["mean"]["kernel"],
                             grads_off["reinforce"]["step"]["location_net"]["mean"]["kernel"],
                             rtol=1e-6)
