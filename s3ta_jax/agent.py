"""The S3TA Atari agent (Mott et al. 2019, section 2, section 4.1, appendix A.1.1, Table 3), its
bottom-up ablations (section 4.1.1) and the IMPALA ResNet baselines (section 4.1, Table 1).

Per time step t of the top-down agent (`kind="s3ta"`):

  vision core (eq. 1): frame/255 -> conv 8x8/4 (32) -> relu -> conv 4x4/2 (64) -> relu
                       -> ConvLSTM 3x3 (128)                       = O_vis [27, 20, 128]
  split:               keys = O_vis[..., :8], values = O_vis[..., 8:]; append the spatial basis
                       S [27, 20, 64] to both -> K [27, 20, 72], V [27, 20, 184]
  queries (eq. 2):     MLP 256-128-288 on h_core(t-1) (relu between) -> 4 queries of 72
  attention (eqs. 3-5): 4 answers of 184 and 4 maps [27, 20]
  answer processor:    MLP 512-256 (relu) on [queries, answers, one_hot(a_{t-1}), clip(r_{t-1})]
  policy core (eq. 6): LSTM 256
  outputs:             relu(Dense 128) -> policy logits, value

The config (`s3ta_jax.agent_config`) also selects the bottom-up ablations, the baselines and the
options not in the paper that the configs and run records use (`vision_norm`, `query_bias_std`,
`core_input_norm`, `vision_lstm=False`, `conv_lstm_forget_bias`, `head_hidden=0`,
`center_answers="running"`: answers minus their running mean over training, kept in the
non-trained `answer_stats` collection that a training unroll updates, as flax's BatchNorm does
`batch_stats`).

All convolutions use 'SAME' padding: that is what gives the paper's 27x20 map for 210x160 frames
(ceil(210/4)=53, ceil(53/2)=27; ceil(160/4)=40, 40/2=20).

Variants (`config.kind`):
  s3ta         the top-down agent above.
  fixed_query  queries are a learned [4, 72] bias, not a function of the state (section 4.1.1).
  l2_keys      no queries: head n's logits are the L2 norm of its group of Ck/N = 2 content key
               channels at each position (a soft bottom-up saliency, section 4.1.1); the answer
               processor sees answers, action and reward only.
  feedforward  IMPALA deep ResNet (Espeholt et al. 2018) -> Dense 256 -> policy logits, value.
  lstm         that ResNet -> LSTM 256 fed [features, one_hot(a_{t-1}), clip(r_{t-1})] -> heads.

Interface used by the IMPALA actor-learner (`s3ta_jax/impala/`):
  agent = make_agent(config, num_actions); params = init_params(agent, config, rng)
  agent.apply(params, obs, prev_action, prev_reward, reset, state, method="step")    # [B, ...]
  agent.apply(params, obs, prev_action, prev_reward, reset, state, method="unroll")  # [T, B, ...]
`reset[t]` True means obs[t] starts a new episode: the recurrent state is replaced by the zero
initial state before obs[t] is processed (the previous action and reward are used as given).
Absent state parts (no ConvLSTM in the baselines, no LSTM in `feedforward`) are zero arrays of
shape [B, 0], so the state is always an `AgentState` of four arrays. Baselines return attention
of shape [..., 0, h, w] (no heads; h, w their trunk's final map, 27x20 for 210x160 frames).
`config.trunk` swaps the frame trunks of S3TA and the baselines (a probe; agent_config.py).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from s3ta_jax import attention as attention_lib
from s3ta_jax import conv_lstm
from s3ta_jax import resnet as resnet_lib
from s3ta_jax import spatial_basis as basis_lib
from s3ta_jax.agent_config import (ATTENTION_KINDS, answer_size, feature_map_shape, query_size,
                                   trunk, validate_config)


def update_answer_stats(stats, batch_mean: jax.Array, rate: float) -> dict:
  """The `answer_stats` ({mean, count}) with the running mean moved towards `batch_mean` (the mean
  over a training batch of the flattened answers): by `rate`, or by 1/(n+1) over the first
  n < 1/rate updates, so the first update sets it to the batch mean."""
  step = jnp.maximum(rate, 1.0 / (stats["count"] + 1.0))
  return {"mean": stats["mean"] + step * (batch_mean - stats["mean"]),
          "count": stats["count"] + 1.0}


class AgentOutput(NamedTuple):
  logits: jax.Array  # [..., num_actions]
  value: jax.Array  # [...]
  attention: jax.Array  # [..., num_heads, h, w]; [..., 0, h, w] for the baselines.


class AgentState(NamedTuple):
  """Recurrent state; absent parts are [B, 0] zeros."""
  vision_c: jax.Array  # ConvLSTM cell [B, h, w, conv_lstm_channels]
  vision_h: jax.Array  # ConvLSTM hidden [B, h, w, conv_lstm_channels]
  core_c: jax.Array  # policy LSTM cell [B, core]
  core_h: jax.Array  # policy LSTM hidden [B, core]; the query network reads this (eq. 2).


def initial_state(config, batch_size: int) -> AgentState:
  """The zero state for `batch_size` environments; pure, needs no parameters."""
  validate_config(config)
  empty = jnp.zeros((batch_size, 0), jnp.float32)
  if config.kind in ATTENTION_KINDS:
    h, w = feature_map_shape(config)
    vc, vh = conv_lstm.ConvLSTMCell.initial_state(batch_size, h, w, config.conv_lstm_channels)
    core = jnp.zeros((batch_size, config.core_lstm), jnp.float32)
    return AgentState(vc, vh, core, core)
  if config.kind == "lstm":
    core = jnp.zeros((batch_size, config.baseline_lstm), jnp.float32)
    return AgentState(empty, empty, core, core)
  return AgentState(empty, empty, empty, empty)


def content_bias_init(std: float, num_heads: int, key_channels: int, query_size: int):
  """Normal(std) on the content (first Ck) channels of each head's query, zeros on the spatial."""
  def init(key, shape, dtype=jnp.float32):
    mask = (jnp.arange(query_size) < key_channels).astype(dtype)
    return std * jax.random.normal(key, shape, dtype) * jnp.tile(mask, num_heads)
  return init


class MLP(nn.Module):
  features: Sequence[int]
  activate_final: bool = False
  final_bias_init: Any = nn.initializers.zeros

  @nn.compact
  def __call__(self, x):
    for i, f in enumerate(self.features):
      last = i == len(self.features) - 1
      x = nn.Dense(f, bias_init=self.final_bias_init if last else nn.initializers.zeros)(x)
      if not last or self.activate_final:
        x = nn.relu(x)
    return x


class Agent(nn.Module):
  """S3TA agent or baseline, selected by `config.kind`. See the module docstring."""
  config: Any  # A FrozenConfigDict (hashable), from `agent_config`.
  num_actions: int

  def setup(self):
    c = self.config
    self._attention = c.kind in ATTENTION_KINDS
    self._trunk = trunk(c)
    if self._trunk == "convs":
      self.convs = [nn.Conv(ch, (k, k), strides=(s, s), padding="SAME", name=f"conv{i}")
                    for i, (ch, k, s) in enumerate(zip(c.conv_channels, c.conv_kernels,
                                                       c.conv_strides))]
    else:  # The baselines' ResNet, or its last map (no fc) for an attention kind to read.
      self.resnet = resnet_lib.ImpalaResNet(tuple(c.resnet_channels), c.resnet_blocks,
                                            0 if self._attention else c.resnet_fc)
    if self._attention and c.vision_lstm:
      self.conv_lstm = conv_lstm.ConvLSTMCell(c.conv_lstm_channels, (c.conv_lstm_kernel,) * 2,
                                              forget_bias=c.conv_lstm_forget_bias)
    elif self._attention or self._trunk == "convs":  # Feed-forward, or the baseline's probe.
      self.vision_conv = nn.Conv(c.conv_lstm_channels, (c.conv_lstm_kernel,) * 2,
                                 padding="SAME", name="vision_conv")
    if self._attention:
      if c.vision_norm:
        self.vision_norm = nn.LayerNorm(name="vision_norm")
      qsize = query_size(c)
      if c.kind == "s3ta":
        self.query_net = MLP(tuple(c.query_hidden) + (c.num_heads * qsize,),
                             final_bias_init=content_bias_init(c.query_bias_std, c.num_heads,
                                                               c.key_channels, qsize))
      elif c.kind == "fixed_query":
        if c.fixed_query_init == "content_bias":  # S3TA's query bias: the same start.
          bias_init = content_bias_init(c.query_bias_std, c.num_heads, c.key_channels, qsize)
          init = lambda key, shape: bias_init(key, (shape[0] * shape[1],)).reshape(shape)
        else:  # "dense": scaled like a Dense layer's output (std 1/sqrt(Ck+Cs)).
          init = nn.initializers.normal(qsize ** -0.5)
        self.fixed_queries = self.param("fixed_queries", init, (c.num_heads, qsize))
      if c.center_answers == "running":
        size = answer_size(c)
        self.answer_mean = self.variable("answer_stats", "mean", jnp.zeros, (size,), jnp.float32)
        self.answer_count = self.variable("answer_stats", "count", jnp.zeros, (), jnp.float32)
      # Table 3's answer processor is a 2-layer MLP; its output is rectified, like every layer.
      self.answer_net = MLP(tuple(c.answer_hidden), activate_final=True)
      if c.core_input_norm:
        self.core_input_norm = nn.LayerNorm(name="core_input_norm")
      self.core = nn.OptimizedLSTMCell(c.core_lstm)
      self.head_hidden = nn.Dense(c.head_hidden) if c.head_hidden else None
    elif self._trunk == "convs":  # The trunk probe: S3TA's vision stack under a baseline.
      self.encoder_fc = nn.Dense(c.resnet_fc, name="encoder_fc")
    if c.kind == "lstm":
      self.core = nn.OptimizedLSTMCell(c.baseline_lstm)
    self.policy = nn.Dense(self.num_actions)
    self.value_head = nn.Dense(1)

  # The part that does not depend on the recurrent state, applied to all frames at once.
  def _encode(self, obs: jax.Array, lead: tuple[int, ...] | None = None) -> jax.Array:
    """`lead` = (T, B) when obs is T*B frames of an unroll: intermediates are sown as [T, B, ...],
    so the time scan that follows sees them with the same leading axis as its own."""
    c = self.config

    def sow(name, x):
      self.sow("intermediates", name, x if lead is None else x.reshape(lead + x.shape[1:]))

    chex.assert_rank(obs, 4)
    if obs.shape[1:] != (c.frame_height, c.frame_width, 3):
      raise ValueError(f"agent expects frames [B, {c.frame_height}, {c.frame_width}, 3], got "
                       f"{obs.shape}; set the environment's frame size or agent config to match.")
    x = obs.astype(jnp.float32) / 255.0
    sow("frames", x)
    if self._trunk == "convs":
      for conv in self.convs:
        x = nn.relu(conv(x))
        sow(f"{conv.name}_out", x)
    else:
      x = self.resnet(x, lead)  # [B, resnet_fc], or its last map for an attention kind.
    if self._attention:
      if not c.vision_lstm:
        return nn.relu(self.vision_conv(x))  # O_vis itself: no recurrent part.
      return self.conv_lstm.input_gates(x)  # [B, h, w, 4 * conv_lstm_channels]
    if self._trunk == "convs":  # The probe: S3TA's vision, flattened, no attention.
      x = nn.relu(self.vision_conv(x)).reshape(x.shape[0], -1)
      x = nn.relu(self.encoder_fc(x))
    sow("resnet_out", x)  # The baselines' encoded frame, whichever trunk made it.
    return x

  def _extra_inputs(self, prev_action, prev_reward):
    reward = prev_reward.astype(jnp.float32)
    if self.config.clip_prev_reward:
      reward = jnp.clip(reward, -1.0, 1.0)
    return [jax.nn.one_hot(prev_action, self.num_actions), reward[:, None]]

  def _core_step(self, state: AgentState, inputs) -> tuple[AgentState, tuple[AgentOutput, Any]]:
    """One step of everything after the vision core, from its output (O_vis, or the baselines'
    encoded frames); resets the policy core's state where `reset` first. The vision state in
    `state` is passed through: `_vision` has already advanced it. Returns the new state, the
    outputs and the flattened answers [B, answer_size] as read ([B, 0] for the baselines)."""
    encoded, prev_action, prev_reward, reset = inputs
    c = self.config
    batch = encoded.shape[0]
    chex.assert_shape([prev_action, prev_reward, reset], (batch,))
    keep = lambda s: jnp.where(reset[:, None], jnp.zeros_like(s), s)
    state = state._replace(core_c=keep(state.core_c), core_h=keep(state.core_h))
    if not self._attention:
      h, w = feature_map_shape(c)
      attention = jnp.zeros((batch, 0, h, w), jnp.float32)
      features = encoded
      if c.kind == "lstm":
        core_in = jnp.concatenate([encoded] + self._extra_inputs(prev_action, prev_reward), -1)
        self.sow("intermediates", "core_input", core_in)
        (core_c, core_h), features = self.core((state.core_c, state.core_h), core_in)
        self.sow("intermediates", "policy_core", features)
        state = state._replace(core_c=core_c, core_h=core_h)
      return state, (self._heads(features, attention), jnp.zeros((batch, 0), jnp.float32))

    o_vis = encoded
    if c.vision_norm:
      o_vis = self.vision_norm(o_vis)
    ck = c.key_channels
    h, w = o_vis.shape[1:3]
    basis = jnp.broadcast_to(
        basis_lib.spatial_basis(h, w, c.basis_even, c.basis_odd),
        (batch, h, w, basis_lib.num_channels(c.basis_even, c.basis_odd)))
    keys = jnp.concatenate([o_vis[..., :ck], basis], -1)
    values = jnp.concatenate([o_vis[..., ck:], basis], -1)
    self.sow("intermediates", "keys", keys)
    self.sow("intermediates", "values", values)
    if c.kind == "l2_keys":
      grouped = o_vis[..., :ck].reshape(batch, h, w, c.num_heads, ck // c.num_heads)
      logits = jnp.sqrt(jnp.sum(jnp.square(grouped), -1) + 1e-12).transpose(0, 3, 1, 2)
      weights = attention_lib.attention_weights(logits)
      answers = attention_lib.attend(weights, values)
      query_inputs = []
    else:
      if c.kind == "s3ta":
        queries = self.query_net(state.core_h).reshape(batch, c.num_heads, -1)  # eq. 2
      else:
        queries = jnp.broadcast_to(self.fixed_queries, (batch,) + self.fixed_queries.shape)
      self.sow("intermediates", "queries", queries)
      answers, weights = attention_lib.spatial_attention(queries, keys, values)
      query_inputs = [queries.reshape(batch, -1)]
    flat_answers = raw_answers = answers.reshape(batch, -1)
    if c.center_answers == "running":
      flat_answers = flat_answers - jax.lax.stop_gradient(self.answer_mean.value)
    answer_in = jnp.concatenate(
        query_inputs + [flat_answers] + self._extra_inputs(prev_action, prev_reward),
        -1)
    core_in = self.answer_net(answer_in)
    if c.core_input_norm:
      core_in = self.core_input_norm(core_in)
    (core_c, core_h), core_out = self.core((state.core_c, state.core_h), core_in)  # eq. 6
    features = nn.relu(self.head_hidden(core_out)) if c.head_hidden else core_out
    for name, x in [("attention", weights), ("answers", answers), ("answer_inputs", answer_in),
                    ("answer_processor", core_in), ("policy_core", core_out),
                    ("output_hidden", features)]:
      self.sow("intermediates", name, x)
    return (state._replace(core_c=core_c, core_h=core_h),
            (self._heads(features, weights), raw_answers))

  def _heads(self, features, attention) -> AgentOutput:
    return AgentOutput(logits=self.policy(features), value=self.value_head(features)[..., 0],
                       attention=attention)

  def _vision(self, encoded, reset, state: AgentState, lead=None):
    """The vision core's recurrent layer over [T, B, ...] encoded frames (all T at once, before
    the policy core's time loop: it does not depend on the policy core). Returns (O_vis
    [T, B, ...], state with the new vision part); `lead=None` sows O_vis for one step [B, ...]."""
    if not (self._attention and self.config.vision_lstm):
      o_vis = encoded  # O_vis itself, or the baselines' features; the vision state stays [B, 0].
    else:
      (vision_c, vision_h), o_vis = self.conv_lstm.unroll((state.vision_c, state.vision_h),
                                                          encoded, reset, sow_steps=lead is not None)
      state = state._replace(vision_c=vision_c, vision_h=vision_h)
    if self._attention:
      self.sow("intermediates", "vision_core", o_vis if lead is not None else o_vis[0])
    return o_vis, state

  def step(self, obs, prev_action, prev_reward, reset, state: AgentState):
    """One actor step: obs [B, H, W, 3] uint8 -> (AgentOutput [B, ...], new state)."""
    o_vis, state = self._vision(self._encode(obs)[None], reset[None], state)
    new_state, (out, _) = self._core_step(state, (o_vis[0], prev_action, prev_reward, reset))
    return out, new_state

  def unroll(self, obs, prev_action, prev_reward, reset, state: AgentState):
    """Learner unroll: obs [T, B, H, W, 3] -> (AgentOutput [T, B, ...], final state)."""
    chex.assert_rank(obs, 5)
    c = self.config
    t, b = obs.shape[:2]
    chex.assert_shape([prev_action, prev_reward, reset], (t, b))
    encoded = self._encode(obs.reshape((t * b,) + obs.shape[2:]), lead=(t, b))
    encoded = encoded.reshape((t, b) + encoded.shape[1:])
    o_vis, state = self._vision(encoded, reset, state, lead=(t, b))
    # Intermediates (when requested as mutable) get a leading time axis.
    scan = nn.scan(lambda mdl, carry, xs: mdl._core_step(carry, xs),
                   variable_broadcast=["params", "answer_stats"],
                   variable_axes={"intermediates": 0},
                   split_rngs={"params": False})
    final_state, (out, answers) = scan(self, state, (o_vis, prev_action, prev_reward, reset))
    if (c.center_answers == "running" and self.is_mutable_collection("answer_stats")
        and not self.is_initializing()):
      # Not trained: a training unroll (answer_stats mutable, as flax's batch_stats) moves the
      # running mean towards this batch's mean answer; the learner then averages it over devices.
      batch_mean = jnp.mean(answers.reshape(-1, answers.shape[-1]), 0)
      new = update_answer_stats({"mean": self.answer_mean.value, "count": self.answer_count.value},
                                batch_mean, c.answer_mean_rate)
      self.answer_mean.value, self.answer_count.value = new["mean"], new["count"]
    return out, final_state

  def __call__(self, obs, prev_action, prev_reward, reset, state):
    return self.unroll(obs, prev_action, prev_reward, reset, state)


def make_agent(config, num_actions: int) -> Agent:
  """The agent module for `config` (from `agent_config`) and an environment's action count."""
  validate_config(config)
  if num_actions < 1:
    raise ValueError(f"num_actions must be >= 1, got {num_actions}.")
  return Agent(config=ml_collections.FrozenConfigDict(config), num_actions=num_actions)


def dummy_inputs(config, time: int, batch_size: int):
  """Zero inputs of the right shapes and dtypes for `unroll` (obs, action, reward, reset)."""
  obs = jnp.zeros((time, batch_size, config.frame_height, config.frame_width, 3), jnp.uint8)
  return (obs, jnp.zeros((time, batch_size), jnp.int32), jnp.zeros((time, batch_size), jnp.float32),
          jnp.zeros((time, batch_size), bool))


def init_params(agent: Agent, config, rng: jax.Array, batch_size: int = 1):
  """Parameters initialised through `unroll` (T=1), valid for both `step` and `unroll`."""
  return agent.init(rng, *dummy_inputs(config, 1, batch_size), initial_state(config, batch_size),
                    method="unroll")


def param_count(params) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))


def intermediate_shapes(config, num_actions: int, batch_size: int = 1) -> list[tuple[str, tuple]]:
  """Every intermediate tensor's shape for one `step` (abstract evaluation: no FLOPs, no memory).

  Also returns the outputs and new state, so the benchmark and the tests can print and check the
  whole pipeline of the paper configuration cheaply.
  """
  agent = make_agent(config, num_actions)
  params = jax.eval_shape(lambda: init_params(agent, config, jax.random.PRNGKey(0), batch_size))
  state = initial_state(config, batch_size)
  obs = jax.ShapeDtypeStruct((batch_size, config.frame_height, config.frame_width, 3), jnp.uint8)
  act = jax.ShapeDtypeStruct((batch_size,), jnp.int32)
  rew = jax.ShapeDtypeStruct((batch_size,), jnp.float32)
  reset = jax.ShapeDtypeStruct((batch_size,), jnp.bool_)
  (out, new_state), variables = jax.eval_shape(
      lambda p, *xs: agent.apply(p, *xs, method="step", mutable=["intermediates"]),
      params, obs, act, rew, reset, state)
  flat = {}
  for name, v in variables["intermediates"].items():
    if isinstance(v, tuple):
      flat[name] = v[0].shape
    else:  # A submodule's own intermediates (the ResNet stacks).
      flat.update({f"{name}.{k}": w[0].shape for k, w in v.items()})
  order = ["frames", "conv0_out", "conv1_out", "resnet.stack0_out", "resnet.stack1_out",
           "resnet.stack2_out", "resnet_out", "vision_core", "keys", "values", "queries",
           "attention", "answers", "answer_inputs", "answer_processor", "core_input",
           "policy_core", "output_hidden"]
  rank = {name: i for i, name in enumerate(order)}
  shapes = sorted(((k, tuple(v)) for k, v in flat.items()), key=lambda kv: rank.get(kv[0], 99))
  shapes += [(f"output.{k}", tuple(v.shape)) for k, v in out._asdict().items()]
  shapes += [(f"state.{k}", tuple(v.shape)) for k, v in new_state._asdict().items()]
  return shapes
