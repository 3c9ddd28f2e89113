"""Collapse diagnostics: gate pre-activations against Flax's LSTM cell, and each measure against
agents built to be healthy or collapsed in a known way."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s3ta_jax import spatial_basis
from s3ta_jax.agent_config import agent_config
from s3ta_jax.impala import agents, diagnostics


def test_gate_preactivations_reproduce_the_flax_cell():
  cell = nn.OptimizedLSTMCell(5)
  rng = np.random.default_rng(0)
  x, h, c = (jnp.asarray(rng.normal(size=s), jnp.float32) for s in [(3, 4), (3, 5), (3, 5)])
  params = cell.init(jax.random.PRNGKey(1), (c, h), x)["params"]
  (c_new, h_new), _ = cell.apply({"params": params}, (c, h), x)
  i, f, g, o = diagnostics.lstm_gate_preactivations(params, x, h)
  sig = jax.nn.sigmoid
  c_ref = sig(f) * c + sig(i) * jnp.tanh(g)  # Hochreiter & Schmidhuber with a forget gate.
  np.testing.assert_allclose(c_new, c_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(h_new, sig(o) * jnp.tanh(c_ref), rtol=1e-5, atol=1e-6)


def _small(kind):
  config = agent_config("small")
  config.kind = kind
  agent = agents.build(config, num_actions=3)  # Catch's three actions.
  return agent, agent.init_params(jax.random.PRNGKey(0))


def test_s3ta_at_initialisation_is_healthy_with_uniform_attention():
  agent, params = _small("s3ta")
  m = diagnostics.measure(agent, params, "catch", num_envs=4, steps=12)
  h, w = 11, 11  # 84x84 frames through convs of stride 4 and 2.
  assert m["gate_saturation"] < 0.05
  assert m["value_std"] > 0
  # Queries start near zero, so each map is close to uniform.
  assert 1 / (h * w) <= m["attention_max"] < 2 / (h * w)


def test_huge_core_input_weights_saturate_the_gates_and_flatten_the_value():
  agent, params = _small("lstm")
  healthy = diagnostics.measure(agent, params, "catch", num_envs=4, steps=12)
  core = dict(params["params"]["core"])
  for g in "ifgo":  # Pre-activations of 1e4 * x: every gate pinned at 0 or 1.
    core[f"i{g}"] = jax.tree.map(lambda k: k * 1e4, core[f"i{g}"])
  broken = {"params": {**params["params"], "core": core}}
  m = diagnostics.measure(agent, broken, "catch", num_envs=4, steps=12)
  assert healthy["gate_saturation"] < 0.05 and m["gate_saturation"] > 0.9
  assert np.isnan(m["attention_max"])  # The baseline has no attention maps.


def test_sharp_queries_give_peaked_attention():
  agent, params = _small("fixed_query")
  queries = params["params"]["fixed_queries"]
  ck = agent_config("small").key_channels
  # Only the basis channel cos(pi i/h) cos(pi j/w) (index 1 * (U+V) + 1), whose unique maximum is
  # at (0, 0) with the next value >= 0.04 below: logits 1e3 times it give one-hot maps.
  sharp = jnp.zeros_like(queries).at[:, ck + 9].set(1e3)
  m = diagnostics.measure(agent, {"params": {**params["params"], "fixed_queries": sharp}},
                          "catch", num_envs=4, steps=6)
  assert m["attention_max"] == pytest.approx(1.0, abs=1e-3)
  # Every head reads cell (0, 0) on every screen; its logits are 1e3 times that basis channel.
  assert m["peak_cells"] == [1] * agent.config.num_heads
  basis = spatial_basis.spatial_basis(11, 11)[..., 9]
  np.testing.assert_allclose(m["where_range"], 1e3 * (basis.max() - basis.min()), rtol=1e-4)
  np.testing.assert_allclose(m["what_range"], 0.0, atol=1e-6)  # Content queries are zero.


def test_a_shared_constant_in_the_core_input_shows_as_low_input_spread():
  """Adding the same large vector to every env's LSTM input leaves its std over envs unchanged
  and multiplies its rms, so the spread falls by about that factor."""
  agent, params = _small("s3ta")
  healthy = diagnostics.measure(agent, params, "catch", num_envs=4, steps=12)
  answer_net = dict(params["params"]["answer_net"])
  last = sorted(answer_net)[-1]
  answer_net[last] = dict(answer_net[last], bias=answer_net[last]["bias"] + 100.0)
  broken = diagnostics.measure(agent, {"params": {**params["params"], "answer_net": answer_net}},
                               "catch", num_envs=4, steps=12)
  assert healthy["core_input_spread"] > 0.01
  assert broken["core_input_spread"] < healthy["core_input_spread"] / 50


def test_a_negative_output_bias_kills_every_answer_processor_unit():
  agent, params = _small("s3ta")
  healthy = diagnostics.measure(agent, params, "catch", num_envs=4, steps=8)
  answer_net = dict(params["params"]["answer_net"])
  last = sorted(answer_net)[-1]
  answer_net[last] = dict(answer_net[last], bias=answer_net[last]["bias"] - 100.0)
  dead = diagnostics.measure(agent, {"params": {**params["params"], "answer_net": answer_net}},
                             "catch", num_envs=4, steps=8)
  assert healthy["core_input_dead"] < 0.9
  assert dead["core_input_dead"] == 1.0  # ReLU(x - 100) is 0 for every screen.


def test_object_attention_mass_sums_the_weights_of_the_cells_an_object_touches():
  rng = np.random.default_rng(0)
  attention = rng.random((3, 2, 11, 11))
  mask = np.zeros((3, 84, 84), bool)
  mask[0, 0, 0] = True                # Cell (0, 0).
  mask[1, 7:9, 80:84] = True          # Rows 7-8 straddle cells 0 and 1; columns 80+ are cell 10.
  expected = np.zeros((3, 2))
  for b, cells in ((0, [(0, 0)]), (1, [(0, 10), (1, 10)])):
    for n in range(2):
      expected[b, n] = sum(attention[b, n, i, j] for i, j in cells)
  np.testing.assert_allclose(diagnostics.object_attention_mass(attention, mask), expected)


def test_a_large_forget_bias_grows_the_convlstm_cell_and_saturates_its_forget_gate():
  """With the forget gate's bias at +10 (sigmoid ~ 1) and the cell input gate pushed open, c adds
  up tanh(g) every step: |c| grows past the tanh's working range, as the diagnostic must show."""
  agent, params = _small("s3ta")
  healthy = diagnostics.measure(agent, params, "catch", num_envs=4, steps=12)
  conv = dict(params["params"]["conv_lstm"])
  bias = conv["input"]["bias"]
  c = bias.shape[-1] // 4
  # Gates split as (i, f, g, o): i and f at +10, g at +10 (tanh(g) = 1 everywhere).
  bias = bias.at[:3 * c].set(10.0)
  conv["input"] = dict(conv["input"], bias=bias)
  broken = diagnostics.measure(agent, {"params": {**params["params"], "conv_lstm": conv}},
                               "catch", num_envs=4, steps=12)
  assert healthy["vision_cell_abs"] < 1.0 and healthy["vision_cell_saturated"] < 0.05
  assert max(healthy["vision_gate_saturation"]) < 0.05
  # c_t = c_{t-1} + 1 (to 5e-5) from c = 0 at each reset: |c| = steps since the reset, which
  # averages ~4 over 12 steps of Catch episodes; it passes 3 from the third step on.
  assert broken["vision_cell_abs"] > 3.0 and broken["vision_cell_saturated"] > 0.4
  assert min(broken["vision_gate_saturation"][:3]) > 0.99


def test_agents_without_a_convlstm_report_nan_vision_measures():
  agent, params = _small("lstm")
  m = diagnostics.measure(agent, params, "catch", num_envs=4, steps=4)
  assert np.isnan(m["vision_cell_abs"]) and np.isnan(m["vision_spread"])
