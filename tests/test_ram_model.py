"""RAM's modules and unroll against the paper's equations written out in numpy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ram_jax import model
from test_glimpse import retina_reference


def dense(p, x):
  kernel, bias = np.asarray(p["kernel"]).astype(np.float64), np.asarray(p["bias"])
  return np.asarray(x).astype(np.float64) @ kernel + bias


def relu(x):
  return np.maximum(x, 0.0)


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def test_lstm_core_matches_equations():
  core = model.LSTMCore(5)
  rng = np.random.default_rng(0)
  x, h, c = (rng.normal(size=(3, n)).astype(np.float32) for n in (4, 5, 5))
  params = core.init(jax.random.PRNGKey(0), (c, h), x)["params"]
  np.testing.assert_array_equal(params["gates"]["bias"][5:10], 1.0)  # Forget-gate bias.
  (c_new, h_new), out = core.apply({"params": params}, (c, h), x)
  gates = dense(params["gates"], np.concatenate([h, x], -1))
  i, f, g, o = np.split(gates, 4, axis=-1)
  c_ref = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
  np.testing.assert_allclose(c_new, c_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(h_new, sigmoid(o) * np.tanh(c_ref), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(out, h_new)


@pytest.mark.parametrize("squash", [True, False])
def test_ram_unroll_matches_numpy(squash):
  """Every step of the rectifier-core RAM recomputed from the paper's equations (sec. 4); with
  `squash_location=False` the location mean is the paper's Linear(h), and may leave [-1, 1]."""
  size, scales, steps, std = 4, 2, 3, 0.2
  ram = model.RAM(glimpse_size=size, num_scales=scales, num_glimpses=steps, hidden=16,
                  glimpse_features=8, location_features=6, glimpse_output=12, location_std=std,
                  squash_location=squash)
  rng = np.random.default_rng(1)
  images = rng.uniform(size=(4, 20, 20, 1)).astype(np.float32)
  params = ram.init(jax.random.PRNGKey(0), images, jax.random.PRNGKey(1))["params"]
  # A large location head sends linear means outside the image, so the sensor's clip is tested.
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: x * 30 if "location_net" in jax.tree_util.keystr(path) else x, params)
  out = jax.jit(ram.apply)({"params": params}, images, jax.random.PRNGKey(2))
  p = params["step"]
  h = np.zeros((4, 16))
  locations = np.asarray(out["locations"])
  for t in range(steps):
    loc = locations[:, t]
    rho = retina_reference(images, loc, size, scales)
    np.testing.assert_allclose(out["glimpses"][:, t], rho, rtol=1e-5, atol=1e-6)
    h_g = relu(dense(p["glimpse_net"]["what"], rho.reshape(4, -1)))
    h_l = relu(dense(p["glimpse_net"]["where"], loc))
    g = relu(dense(p["glimpse_net"]["combine"], np.concatenate([h_g, h_l], -1)))
    h = relu(dense(p["core"]["recurrent"], np.concatenate([h, g], -1)))
    np.testing.assert_allclose(out["hidden"][:, t], h, rtol=1e-4, atol=1e-5)
    if t < steps - 1:
      mean = dense(p["location_net"]["mean"], h)
      mean = np.tanh(mean) if squash else mean
      assert squash or np.abs(mean).max() > 1
      sample = np.asarray(out["sampled_locations"][:, t])
      np.testing.assert_allclose(out["location_means"][:, t], mean, rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(locations[:, t + 1], np.clip(sample, -1, 1), atol=1e-6)
      log_prob = np.sum(-0.5 * ((sample - mean) / std)**2 - np.log(std * np.sqrt(2 * np.pi)), -1)
      np.testing.assert_allclose(out["log_probs"][:, t], log_prob, rtol=1e-4, atol=1e-4)
      np.testing.assert_allclose(out["baselines"][:, t], dense(p["baseline"], h)[:, 0],
                                 rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out["logits"], dense(params["action_net"], h), rtol=1e-4, atol=1e-5)


def test_policy_noise_and_deterministic_mode():
  ram = model.RAM(glimpse_size=4, num_scales=1, num_glimpses=4, location_std=0.05)
  images = np.random.default_rng(2).uniform(size=(1000, 16, 16, 1)).astype(np.float32)
  params = ram.init(jax.random.PRNGKey(0), images[:2], jax.random.PRNGKey(1))["params"]
  apply = jax.jit(ram.apply, static_argnames="deterministic")
  out = apply({"params": params}, images, jax.random.PRNGKey(3))
  # l_0 is uniform on [-1, 1]^2: mean 0, variance 1/3.
  first = np.asarray(out["locations"][:, 0])
  assert np.all(np.abs(first) <= 1.0)
  np.testing.assert_allclose(first.mean(0), 0.0, atol=0.07)
  np.testing.assert_allclose(first.var(0), 1 / 3, atol=0.04)
  # Later locations: mean + N(0, std^2) noise.
  noise = np.asarray(out["sampled_locations"] - out["location_means"])
  np.testing.assert_allclose(noise.std(), 0.05, rtol=0.05)
  det = apply({"params": params}, images[:8], jax.random.PRNGKey(3), deterministic=True)
  np.testing.assert_array_equal(det["sampled_locations"], det["location_means"])
  np.testing.assert_array_equal(det["locations"][:, 1:], jnp.clip(det["location_means"], -1, 1))


def test_identity_init_core_carries_its_state_and_keeps_the_input_block():
  n, d = 6, 4
  core = model.RectifierCore(n, identity_init=True)
  h = jnp.abs(jax.random.normal(jax.random.PRNGKey(1), (3, n)))
  params = core.init(jax.random.PRNGKey(0), h, jnp.zeros((3, d)))
  kernel = np.asarray(params["params"]["recurrent"]["kernel"])
  np.testing.assert_array_equal(kernel[:n], np.eye(n))
  assert np.std(kernel[n:]) > 0.1  # The input block is still random (lecun normal).
  np.testing.assert_array_equal(params["params"]["recurrent"]["bias"], 0.0)
  new_h, _ = core.apply(params, h, jnp.zeros((3, d)))
  np.testing.assert_allclose(new_h, h, rtol=1e-6)  # relu(I h + 0) = h for h >= 0.
  with pytest.raises(ValueError, match="rectifier core"):
    model.make_core("lstm", n, identity_init=True)
