"""The S3TA Atari agent (Table 3), its ablations and baselines.

Paper-size checks use abstract evaluation (jax.eval_shape: no FLOPs); numbers use the small config.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s3ta_jax import agent as agent_lib
from s3ta_jax import agent_config
from s3ta_jax import conv_lstm

NUM_ACTIONS = 6
T, B = 4, 2


def _config(kind, name="small"):
  c = agent_config.agent_config(name)
  c.kind = kind
  return c


@functools.lru_cache(maxsize=None)
def _agent_and_params(kind):
  """Agent, random parameters (numpy: no init compile) and jitted unroll/step, shared by tests."""
  config = _config(kind)
  agent = agent_lib.make_agent(config, NUM_ACTIONS)
  shapes = jax.eval_shape(lambda: agent_lib.init_params(agent, config, jax.random.PRNGKey(0)))
  rng = np.random.default_rng(0)
  # Fan-in scaled kernels and small random biases (not zeros), so no unit is dead by construction.
  params = jax.tree.map(
      lambda x: jnp.asarray(rng.normal(size=x.shape) / np.sqrt(np.prod(x.shape[:-1]))
                            if x.ndim > 1 else 0.1 * rng.normal(size=x.shape), jnp.float32),
      shapes)
  unroll = jax.jit(functools.partial(agent.apply, method="unroll"))
  step = jax.jit(functools.partial(agent.apply, method="step"))
  return config, agent, params, unroll, step


def _inputs(config, seed=0, t=T, b=B):
  rng = np.random.default_rng(seed)
  obs = rng.integers(0, 256, (t, b, config.frame_height, config.frame_width, 3), dtype=np.uint8)
  act = rng.integers(0, NUM_ACTIONS, (t, b)).astype(np.int32)
  rew = rng.normal(size=(t, b)).astype(np.float32)
  reset = np.zeros((t, b), bool)
  reset[0, 0] = True
  return obs, act, rew, reset


def _random_state(config, b=B, seed=3):
  state = agent_lib.initial_state(config, b)
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), state)


# ----- Paper configuration: shapes and parameter counts (abstract evaluation only). -----

def test_paper_intermediate_shapes():
  shapes = dict(agent_lib.intermediate_shapes(_config("s3ta", "paper"), 18, batch_size=32))
  expect = {
      "frames": (32, 210, 160, 3), "conv0_out": (32, 53, 40, 32), "conv1_out": (32, 27, 20, 64),
      "vision_core": (32, 27, 20, 128), "keys": (32, 27, 20, 8 + 64),
      "values": (32, 27, 20, 120 + 64), "queries": (32, 4, 72), "attention": (32, 4, 27, 20),
      "answers": (32, 4, 184), "answer_inputs": (32, 4 * 72 + 4 * 184 + 18 + 1),
      "answer_processor": (32, 256), "policy_core": (32, 256), "output_hidden": (32, 128),
      "output.logits": (32, 18), "output.value": (32,), "output.attention": (32, 4, 27, 20),
      "state.vision_c": (32, 27, 20, 128), "state.core_h": (32, 256)}
  for name, shape in expect.items():
    assert shapes[name] == shape, (name, shapes[name], shape)


def _dense(i, o):
  return i * o + o


def _lstm(i, h):  # flax (Optimized)LSTMCell: input kernels without bias, hidden kernels with bias.
  return 4 * (i * h + h * h + h)


def _resnet(channels=(16, 32, 32), fc=256, flat=27 * 20 * 32):
  n, cin = 0, 3
  for ch in channels:
    n += 9 * cin * ch + ch + 2 * 2 * (9 * ch * ch + ch)
    cin = ch
  return n + _dense(flat, fc)


@pytest.mark.parametrize("kind", agent_config.KINDS)
def test_paper_parameter_counts(kind):
  a = 18
  vision = (8 * 8 * 3 * 32 + 32) + (4 * 4 * 32 * 64 + 64) + (9 * 64 * 512 + 512) + 9 * 128 * 512
  top = _lstm(256, 256) + _dense(256, 128) + _dense(128, a) + _dense(128, 1)
  expect = {
      "s3ta": vision + _dense(256, 256) + _dense(256, 128) + _dense(128, 288) +
              _dense(288 + 736 + a + 1, 512) + _dense(512, 256) + top,
      "fixed_query": vision + 4 * 72 + _dense(288 + 736 + a + 1, 512) + _dense(512, 256) + top,
      "l2_keys": vision + _dense(736 + a + 1, 512) + _dense(512, 256) + top,
      "feedforward": _resnet() + _dense(256, a) + _dense(256, 1),
      "lstm": _resnet() + _lstm(256 + a + 1, 256) + _dense(256, a) + _dense(256, 1),
  }[kind]
  config = _config(kind, "paper")
  agent = agent_lib.make_agent(config, a)
  params = jax.eval_shape(lambda: agent_lib.init_params(agent, config, jax.random.PRNGKey(0)))
  assert agent_lib.param_count(params) == expect


@pytest.mark.parametrize("kind,attn_shape", [("feedforward", (32, 0, 27, 20)),
                                             ("lstm", (32, 0, 27, 20)),
                                             ("l2_keys", (32, 4, 27, 20))])
def test_paper_variant_output_shapes(kind, attn_shape):
  shapes = dict(agent_lib.intermediate_shapes(_config(kind, "paper"), 18, batch_size=32))
  assert shapes["output.attention"] == attn_shape
  assert shapes["output.logits"] == (32, 18) and shapes["output.value"] == (32,)


@pytest.mark.parametrize("kind,trunk,grid", [("s3ta", "resnet", (21, 21)),  # 84 -> 42 -> 21.
                                              ("lstm", "convs", (11, 11))])  # 84 -> 21 -> 11.
def test_a_swapped_trunk_sets_the_attention_grid_and_the_vision_state(kind, trunk, grid):
  config = _config(kind)
  config.update(trunk=trunk, resnet_channels=(8, 16))  # Two ResNet stacks: not the convs' grid.
  shapes = dict(agent_lib.intermediate_shapes(config, NUM_ACTIONS, batch_size=2))
  assert shapes["output.attention"][2:] == grid
  if kind == "s3ta":  # The ConvLSTM runs on the ResNet's map.
    assert agent_lib.initial_state(config, 2).vision_c.shape == (2,) + grid + (64,)


def test_initial_state_shapes():
  s = agent_lib.initial_state(_config("s3ta", "paper"), 5)
  assert s.vision_c.shape == (5, 27, 20, 128) and s.core_h.shape == (5, 256)
  s = agent_lib.initial_state(_config("feedforward", "paper"), 5)
  assert all(x.shape == (5, 0) for x in s)
  assert all(not np.any(x) for x in agent_lib.initial_state(_config("lstm"), 2))


# ----- Small configuration: real numbers. -----

@pytest.mark.parametrize("kind", agent_config.KINDS)
def test_step_equals_unroll(kind):
  config, agent, params, unroll, step = _agent_and_params(kind)
  obs, act, rew, reset = _inputs(config)
  reset[2, 1] = True
  state = _random_state(config)
  out, final = unroll(params, obs, act, rew, reset, state)
  s = state
  for t in range(T):
    o, s = step(params, obs[t], act[t], rew[t], reset[t], s)
    for name in ("logits", "value", "attention"):
      np.testing.assert_allclose(getattr(o, name), getattr(out, name)[t], rtol=1e-4, atol=1e-5,
                                 err_msg=f"{name} at t={t}")
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5), s, final)
  h, w = agent_config.feature_map_shape(config)
  heads = 0 if kind in ("feedforward", "lstm") else 4
  assert out.logits.shape == (T, B, NUM_ACTIONS) and out.value.shape == (T, B)
  assert out.attention.shape == (T, B, heads, h, w) and (h, w) == (11, 11)
  if heads:
    np.testing.assert_allclose(out.attention.sum(axis=(-2, -1)), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", ["s3ta", "lstm"])
def test_reset_mid_unroll_equals_fresh_unroll(kind):
  config, agent, params, unroll, step = _agent_and_params(kind)
  obs, act, rew, reset = _inputs(config, seed=1)
  reset[:] = False
  reset[2, 0] = True  # Element 0 starts a new episode at t=2; element 1 carries on.
  out, final = unroll(params, obs, act, rew, reset, _random_state(config))
  # The fresh run: element 0's frames from t=2 on, from the zero state (same shapes, so the
  # compiled unroll is reused; its t >= 2 half is a repeat and unused).
  idx = np.array([2, 3, 2, 3])
  fresh_reset = np.zeros_like(reset)
  fresh_reset[2] = True
  fresh, fresh_final = unroll(params, obs[idx], act[idx], rew[idx], fresh_reset,
                              agent_lib.initial_state(config, B))
  np.testing.assert_allclose(out.logits[2:, 0], fresh.logits[:2, 0], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out.value[2:, 0], fresh.value[:2, 0], rtol=1e-4, atol=1e-5)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x[:1], y[:1], rtol=1e-4, atol=1e-5),
               final, fresh_final)
  # Without the reset, the carried-in state changes the outputs (so the check above can fail).
  reset[2, 0] = False
  carried, _ = unroll(params, obs, act, rew, reset, _random_state(config))
  assert np.max(np.abs(carried.logits[2:, 0] - fresh.logits[:2, 0])) > 1e-4


# `feedforward` is `lstm`'s ResNet and heads without the LSTM, so `lstm` covers its parameters.
@pytest.mark.parametrize("kind", ["s3ta", "fixed_query", "l2_keys", "lstm"])
def test_gradients_reach_every_parameter(kind):
  config, agent, params, unroll, step = _agent_and_params(kind)
  obs, act, rew, reset = _inputs(config, seed=2)
  rng = np.random.default_rng(5)
  w_logits = rng.normal(size=(T, B, NUM_ACTIONS)).astype(np.float32)
  w_value = rng.normal(size=(T, B)).astype(np.float32)

  def loss(p):
    out, _ = agent.apply(p, obs, act, rew, reset, agent_lib.initial_state(config, B),
                         method="unroll")
    return jnp.sum(out.logits * w_logits) + jnp.sum(out.value * w_value)

  grads = jax.jit(jax.grad(loss))(params)
  groups = set(grads["params"])
  expect_groups = {
      "s3ta": {"conv0", "conv1", "conv_lstm", "query_net", "answer_net", "core", "head_hidden",
               "policy", "value_head"},
      "fixed_query": {"conv0", "conv1", "conv_lstm", "fixed_queries", "answer_net", "core",
                      "head_hidden", "policy", "value_head"},
      "l2_keys": {"conv0", "conv1", "conv_lstm", "answer_net", "core", "head_hidden", "policy",
                  "value_head"},
      "lstm": {"resnet", "core", "policy", "value_head"},
  }[kind]
  assert groups == expect_groups
  flat = jax.tree_util.tree_flatten_with_path(grads)[0]
  for path, g in flat:
    assert np.all(np.isfinite(g)), path
    assert np.linalg.norm(np.asarray(g)) > 0, f"no gradient reaches {jax.tree_util.keystr(path)}"


@functools.lru_cache(maxsize=None)
def _step_with_intermediates(kind):
  _, agent, _, _, _ = _agent_and_params(kind)
  return jax.jit(functools.partial(agent.apply, method="step", mutable=["intermediates"]))


def _queries(kind, state_seed, obs_seed):
  config, _, params, _, _ = _agent_and_params(kind)
  obs, act, rew, reset = _inputs(config, seed=obs_seed)
  reset[:] = False
  (_, _), variables = _step_with_intermediates(kind)(
      params, obs[0], act[0], rew[0], reset[0], _random_state(config, seed=state_seed))
  return params, variables["intermediates"]["queries"][0]


def test_fixed_query_does_not_depend_on_state():
  params, q1 = _queries("fixed_query", state_seed=1, obs_seed=1)
  _, q2 = _queries("fixed_query", state_seed=2, obs_seed=2)
  np.testing.assert_array_equal(q1, q2)
  np.testing.assert_array_equal(q1[0], params["params"]["fixed_queries"])
  np.testing.assert_array_equal(q1[0], q1[1])
  # The top-down agent's queries do depend on the state (h of the policy core at t-1, eq. 2)...
  _, q1 = _queries("s3ta", state_seed=1, obs_seed=1)
  _, q2 = _queries("s3ta", state_seed=2, obs_seed=1)
  assert np.max(np.abs(q1 - q2)) > 1e-3
  # ...and not on the current frame.
  _, q3 = _queries("s3ta", state_seed=1, obs_seed=2)
  np.testing.assert_allclose(q1, q3, rtol=1e-6)


def test_frames_are_scaled_by_255():
  config, agent, params, _, _ = _agent_and_params("feedforward")
  obs = np.full((1, config.frame_height, config.frame_width, 3), 255, np.uint8)
  z = np.zeros((1,), np.int32)
  (_, _), v = agent.apply(params, obs, z, z.astype(np.float32), z.astype(bool),
                          agent_lib.initial_state(config, 1), method="step",
                          mutable=["intermediates"])
  np.testing.assert_array_equal(v["intermediates"]["frames"][0], 1.0)


def test_bad_config_and_inputs_raise():
  with pytest.raises(ValueError, match="kind"):
    agent_lib.make_agent(_config("attention"), 4)
  with pytest.raises(ValueError, match="small"):
    agent_config.agent_config("huge")
  bad = _config("l2_keys")
  bad.key_channels = 6
  with pytest.raises(ValueError, match="multiple of num_heads"):
    agent_lib.make_agent(bad, 4)
  bad = _config("s3ta")
  bad.center_answers = "mean"
  with pytest.raises(ValueError, match="center_answers='mean'.*'running'"):
    agent_lib.make_agent(bad, 4)
  # Options of the research investigation that left the product: the error names the note.
  bad.center_answers = "batch"
  with pytest.raises(ValueError, match="research-options-removed"):
    agent_lib.make_agent(bad, 4)
  with pytest.raises(ValueError, match="research-options-removed"):
    agent_lib.make_agent(_config("no_attention"), 4)
  bad = _config("lstm")
  bad.trunk = "vgg"
  with pytest.raises(ValueError, match="trunk='vgg'.*resnet"):
    agent_lib.make_agent(bad, 4)
  config, agent, params, _, _ = _agent_and_params("s3ta")
  obs = np.zeros((1, 1, 80, 80, 3), np.uint8)
  z = np.zeros((1, 1), np.int32)
  with pytest.raises(ValueError, match="84, 84, 3"):
    agent.apply(params, obs, z, z.astype(np.float32), z.astype(bool),
                agent_lib.initial_state(config, 1), method="unroll")


@pytest.mark.parametrize("kind", ["s3ta", "lstm"])
def test_unroll_intermediates_are_time_major_and_match_steps(kind):
  """Attention maps for a video come from one unroll; they must equal the step-by-step maps."""
  config, agent, params, _, _ = _agent_and_params(kind)
  obs, act, rew, reset = _inputs(config, t=3, b=2)
  state = _random_state(config, b=2)
  _, unrolled = agent.apply(params, obs, act, rew, reset, state, method="unroll",
                            mutable=["intermediates"])
  unrolled = unrolled["intermediates"]
  step = _step_with_intermediates(kind)
  for t in range(3):
    (_, state), stepped = step(params, obs[t], act[t], rew[t], reset[t], state)
    stepped = stepped["intermediates"]
    for name in ("frames", "attention", "policy_core"):
      if name in stepped:
        np.testing.assert_allclose(unrolled[name][0][t], stepped[name][0], rtol=2e-5, atol=1e-6)
  assert unrolled["frames"][0].shape == obs.shape


def _blocks_frame(config, seed=0):
  """Black frames with a few bright rectangles (Breakout-like: mostly background)."""
  rng = np.random.default_rng(seed)
  obs = np.zeros((1, B, config.frame_height, config.frame_width, 3), np.uint8)
  for b in range(B):
    for _ in range(6):
      y, x = rng.integers(0, config.frame_height - 8), rng.integers(0, config.frame_width - 8)
      obs[0, b, y:y + rng.integers(2, 8), x:x + rng.integers(2, 8)] = rng.integers(60, 256, 3)
  return obs


def _first_step(config, seed=0):
  """Intermediates of the first step after a reset, with freshly initialised parameters."""
  agent = agent_lib.make_agent(config, NUM_ACTIONS)
  params = agent_lib.init_params(agent, config, jax.random.PRNGKey(seed))
  obs = _blocks_frame(config, seed)
  zeros = np.zeros((1, B))
  (out, _), v = agent.apply(params, obs, zeros.astype(np.int32), zeros.astype(np.float32),
                            np.ones((1, B), bool), agent_lib.initial_state(config, B),
                            method="unroll", mutable=["intermediates"])
  im = {k: np.asarray(x[0][0]) for k, x in v["intermediates"].items() if isinstance(x, tuple)}
  return np.asarray(out.attention[0]), im


def test_literal_reading_starts_with_uniform_attention():
  """The paper's reading: queries are 0 after a reset, so each map is exactly 1/(h*w)."""
  attention, im = _first_step(_config("s3ta"))
  np.testing.assert_array_equal(im["queries"], 0.0)
  np.testing.assert_allclose(attention, 1.0 / 121, rtol=1e-6)


def test_vision_norm_and_content_query_bias_give_content_logits_of_order_one():
  """With the vision-core LayerNorm and the content query bias, the first map is content-driven:
  keys are the per-cell standardised O_vis, the spatial part of each query is 0, and the content
  logits q_c . k_c (numpy) spread by ~ std * sqrt(Ck) over the cells that see an object."""
  config = _config("s3ta")
  config.vision_norm, config.query_bias_std = True, 0.5
  attention, im = _first_step(config)
  o = im["vision_core"]
  ck = config.key_channels
  mean, var = o.mean(-1, keepdims=True), o.var(-1, keepdims=True)
  normed = (o - mean) / np.sqrt(var + 1e-6)  # LayerNorm at init (scale 1, bias 0).
  np.testing.assert_allclose(im["keys"][..., :ck], normed[..., :ck], atol=1e-4)
  np.testing.assert_allclose(im["values"][..., :-64], normed[..., ck:], atol=1e-4)
  q = im["queries"]  # [B, heads, Ck + Cs]
  np.testing.assert_array_equal(q[..., ck:], 0.0)
  assert 0.3 < q[..., :ck].std() < 0.7
  logits = np.einsum("bnc,bhwc->bnhw", q, im["keys"])
  flat = logits.reshape(B, config.num_heads, -1)
  want = np.exp(flat - flat.max(-1, keepdims=True))
  np.testing.assert_allclose(attention.reshape(flat.shape), want / want.sum(-1, keepdims=True),
                             atol=1e-6)
  seen = var[..., 0] > 1e-5  # Cells whose receptive field holds an object (LayerNorm eps 1e-6).
  spread = np.array([logits[b, n][seen[b]].std() for b in range(B)
                     for n in range(config.num_heads)])
  assert 0.5 < np.median(spread) < 3.0, spread
  assert attention.max() > 10 / 121  # Peaked on content, not uniform.


def test_the_first_read_after_a_reset_is_the_values_spatial_mean():
  """Queries are 0 after a reset, so the first map is uniform and each answer is the values'
  spatial mean (content and basis alike)."""
  attention, im = _first_step(_config("s3ta"))
  np.testing.assert_allclose(attention, 1.0 / 121, rtol=1e-6)
  want = np.broadcast_to(im["values"].mean((1, 2))[:, None, :], im["answers"].shape)
  np.testing.assert_allclose(im["answers"], want, atol=1e-6)
  assert np.abs(im["answers"]).max() > 0.1  # The basis alone has unit amplitude.


def _relu_conv3x3(x, p):
  """relu of a 'SAME' 3x3 convolution of [T, B, h, w, C] maps, as a numpy loop."""
  h, w = x.shape[2:4]
  x = np.pad(x, [(0, 0)] * 2 + [(1, 1), (1, 1), (0, 0)])
  out = sum(np.einsum("tbhwc,cd->tbhwd", x[:, :, i:i + h, j:j + w], p["kernel"][i, j])
            for i in range(3) for j in range(3)) + p["bias"]
  return np.maximum(out, 0.0)


@pytest.mark.parametrize("trunk", ["default", "resnet"])
def test_feedforward_vision_option_is_relu_of_one_conv_of_the_current_frame(trunk):
  config = _config("s3ta")
  config.update(vision_lstm=False, trunk=trunk)
  agent = agent_lib.make_agent(config, NUM_ACTIONS)
  params = agent_lib.init_params(agent, config, jax.random.PRNGKey(1))
  obs, act, rew, reset = _inputs(config)
  state = _random_state(config)
  (_, final), variables = agent.apply(params, obs, act, rew, reset, state, method="unroll",
                                      mutable=["intermediates"])
  o_vis = np.asarray(variables["intermediates"]["vision_core"][0])  # [T, B, h, w, C]
  if trunk == "resnet":  # The trunk probe: the ResNet's last map (rectified) in place of conv1's.
    assert "conv0" not in params["params"] and "Dense_0" not in params["params"]["resnet"]
    conv1 = np.maximum(np.asarray(variables["intermediates"]["resnet"]["stack2_out"][0]), 0.0)
  else:
    conv1 = np.asarray(variables["intermediates"]["conv1_out"][0])
  reference = _relu_conv3x3(conv1, params["params"]["vision_conv"])
  np.testing.assert_allclose(o_vis, reference, rtol=1e-4, atol=1e-5)
  # No recurrent vision state: the unused one comes back as passed in.
  for got, given in ((final.vision_c, state.vision_c), (final.vision_h, state.vision_h)):
    np.testing.assert_array_equal(got, given)


def test_baseline_with_s3ta_convs_reads_s3tas_vision_flattened():
  config = _config("lstm")
  config.trunk = "convs"
  agent = agent_lib.make_agent(config, NUM_ACTIONS)
  params = agent_lib.init_params(agent, config, jax.random.PRNGKey(1))
  assert "resnet" not in params["params"]
  obs, act, rew, reset = _inputs(config)
  _, variables = agent.apply(params, obs, act, rew, reset, _random_state(config),
                             method="unroll", mutable=["intermediates"])
  conv1 = np.asarray(variables["intermediates"]["conv1_out"][0])  # [T, B, h, w, C]
  encoded = np.asarray(variables["intermediates"]["resnet_out"][0])  # [T, B, resnet_fc]
  o_vis = _relu_conv3x3(conv1, params["params"]["vision_conv"])
  fc = params["params"]["encoder_fc"]
  reference = np.maximum(o_vis.reshape(T, B, -1) @ fc["kernel"] + fc["bias"], 0.0)
  np.testing.assert_allclose(encoded, reference, rtol=1e-4, atol=1e-5)


def test_conv_lstm_forget_bias_option_reaches_the_cell():
  config = _config("s3ta")
  config.conv_lstm_forget_bias = -2.0
  agent = agent_lib.make_agent(config, NUM_ACTIONS)
  params = agent_lib.init_params(agent, config, jax.random.PRNGKey(2))
  obs, act, rew, reset = _inputs(config, t=1)
  state = _random_state(config)
  _, variables = agent.apply(params, obs, act, rew, reset, state, method="unroll",
                             mutable=["intermediates"])
  o_vis = np.asarray(variables["intermediates"]["vision_core"][0])[0, 1]  # t=0, env 1 (no reset)
  cell = conv_lstm.ConvLSTMCell(config.conv_lstm_channels, forget_bias=-2.0)
  conv1 = variables["intermediates"]["conv1_out"][0][0, 1:2]
  (_, h), _ = cell.apply({"params": params["params"]["conv_lstm"]},
                         (state.vision_c[1:2], state.vision_h[1:2]), conv1)
  np.testing.assert_allclose(o_vis, np.asarray(h)[0], rtol=1e-5, atol=1e-6)
  default = conv_lstm.ConvLSTMCell(config.conv_lstm_channels)
  (_, h1), _ = default.apply({"params": params["params"]["conv_lstm"]},
                             (state.vision_c[1:2], state.vision_h[1:2]), conv1)
  assert np.abs(np.asarray(h1)[0] - o_vis).max() > 1e-3  # The bias changed the output.


@pytest.mark.parametrize("fixed_query_init", ["content_bias", "dense"])
def test_fixed_queries_start_as_s3tas_query_bias_or_as_a_dense_output(fixed_query_init):
  """4.1.1's fixed-query ablation starts its queries as S3TA starts its query bias: the content
  channels N(0, query_bias_std), the spatial ones zero ("dense": N(0, 1/72) everywhere)."""
  config = agent_config.agent_config("small")
  config.update(kind="fixed_query", query_bias_std=0.5, fixed_query_init=fixed_query_init)
  agent = agent_lib.make_agent(config, NUM_ACTIONS)
  params = agent_lib.init_params(agent, config, jax.random.PRNGKey(0))["params"]
  queries = np.asarray(params["fixed_queries"])  # [heads, Ck + Cs]
  ck = config.key_channels
  assert queries.shape == (4, 72)
  if fixed_query_init == "content_bias":
    assert np.all(queries[:, ck:] == 0.0)
    assert 0.35 < queries[:, :ck].std() < 0.65  # 32 draws of N(0, 0.5).
  else:
    assert 0.7 / np.sqrt(72) < queries.std() < 1.3 / np.sqrt(72)  # 288 draws of N(0, 1/72).
    assert np.all(queries[:, ck:] != 0.0)
