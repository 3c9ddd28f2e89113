"""The IMPALA learner: V-trace actor-critic loss and a data-parallel RMSProp update.

Loss (Espeholt et al. 2018, eqs. 1-4; S3TA App. A.1.1 for the constants), over transitions
t = 0..T-1 of an unroll with T+1 timesteps (the last one only bootstraps):

  v_s    = V(x_s) + sum_{t>=s} gamma^{t-s} (prod_{i<t} c_i) rho_t delta_t,  delta_t = r_t + gamma V(x_{t+1}) - V(x_t)
  pg     = - sum_t rho_t (r_t + gamma v_{t+1} - V(x_t)) log pi(a_t|x_t)          (rho, c clipped at 1)
  base   = baseline_cost * 0.5 * sum_t (v_t - V(x_t))^2
  ent    = - entropy_cost * sum_t H(pi(.|x_t))

summed over time and batch as in the reference implementation (so RMSProp's eps=0.01 and the
gradient clip keep the paper's meaning whatever the device count). Rewards are clipped to
[-reward_clip, reward_clip] and the discount is zero across episode ends. The agent is fed the
inputs the actor fed it (`rollout.agent_inputs`).

Trajectory layout (all time-major, [T+1, B, ...]); timestep t holds the input the agent saw and
what it did:
  obs[t], first[t] (obs[t] starts an episode), prev_action[t], reward[t] (the reward that arrived
  with obs[t], i.e. for the transition t-1 -> t), action[t], logits[t] (behaviour policy),
plus init_state: the agent state before obs[0], [B, ...].
"""
from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import rlax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from s3ta_jax.impala.agents import non_trained, trained
from s3ta_jax.impala.rollout import agent_inputs

TRAJ_KEYS = ("obs", "first", "prev_action", "reward", "action", "logits")


class LossConfig(NamedTuple):
  discount: float = 0.99
  entropy_cost: float = 0.01
  baseline_cost: float = 0.5
  reward_clip: float = 1.0
  clip_rho_threshold: float = 1.0
  clip_pg_rho_threshold: float = 1.0
  # Multiplies the summed loss (see `loss_scale`): 1 for the paper's batch of 32 x 50.
  scale: float = 1.0


def loss_scale(config) -> float:
  """`config.loss_transitions / (batch_size * unroll_length)`, or 1 when it is 0.

  The loss is a sum over the batch's transitions, so its gradient grows with the batch, and
  RMSProp's eps (0.01, inside the sqrt) and the gradient clip (1280) have the paper's meaning only
  for its 32 x 50 = 1600 transitions. Scaling a smaller batch's sum up to that count keeps both:
  for RMSProp it is the same as dividing eps by the square of the factor.
  """
  transitions = config.loss_transitions
  return transitions / (config.batch_size * config.unroll_length) if transitions else 1.0


def vtrace_loss(logits, values, behaviour_logits, actions, rewards, first,
                config: LossConfig = LossConfig()):
  """IMPALA loss from learner outputs on one batch of unrolls. Returns (loss, metrics).

  Args:
    logits: [T+1, B, A] learner policy logits.
    values: [T+1, B] learner values.
    behaviour_logits: [T+1, B, A] actor policy logits.
    actions: [T+1, B] actions taken at each timestep.
    rewards: [T+1, B] reward that arrived with each timestep (unclipped).
    first: [T+1, B] timestep starts a new episode (so the transition into it ends one).
  """
  chex.assert_rank([logits, values, behaviour_logits, actions, rewards, first], [3, 2, 3, 2, 2, 2])
  chex.assert_equal_shape([logits, behaviour_logits])
  chex.assert_equal_shape([values, actions, rewards, first])
  a_tm1 = actions[:-1]
  r_t = jnp.clip(rewards[1:], -config.reward_clip, config.reward_clip)
  discount_t = config.discount * (1.0 - first[1:].astype(jnp.float32))
  log_pi = jax.nn.log_softmax(logits[:-1])
  log_mu = jax.nn.log_softmax(behaviour_logits[:-1])
  log_pi_a = jnp.take_along_axis(log_pi, a_tm1[..., None], -1)[..., 0]
  log_mu_a = jnp.take_along_axis(log_mu, a_tm1[..., None], -1)[..., 0]
  rho = jnp.exp(log_pi_a - log_mu_a)

  vtrace = jax.vmap(
      lambda v_tm1, v_t, r, d, rho: rlax.vtrace_td_error_and_advantage(
          v_tm1, v_t, r, d, rho, clip_rho_threshold=config.clip_rho_threshold,
          clip_pg_rho_threshold=config.clip_pg_rho_threshold),
      in_axes=1, out_axes=1)
  out = vtrace(values[:-1], values[1:], r_t, discount_t, rho)
  pg_loss = -jnp.sum(jax.lax.stop_gradient(out.pg_advantage) * log_pi_a)
  baseline_loss = config.baseline_cost * 0.5 * jnp.sum(jnp.square(out.errors))
  entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)
  entropy_loss = -config.entropy_cost * jnp.sum(entropy)
  loss = config.scale * (pg_loss + baseline_loss + entropy_loss)
  # How much the value differs between envs (on each learner device) at each step: near 0 means
  # the network ignores its input (a collapsed torso), which the losses alone do not show.
  value_spread = jnp.sum(jnp.abs(values[:-1] - jnp.mean(values[:-1], axis=1, keepdims=True)))
  metrics = dict(loss=loss, pg_loss=pg_loss, baseline_loss=baseline_loss,
                 entropy=jnp.sum(entropy), rho=jnp.sum(rho), value_spread=value_spread)
  return loss, metrics


def attention_health(attention: jax.Array) -> dict:
  """Per head, the sums over maps of each map's largest weight and of its entropy.

  attention: [..., heads, h, w]. A uniform map has max weight 1/(h*w) and entropy log(h*w); a
  one-hot map (which no longer passes gradient) has max weight 1 and entropy 0. Returns
  attention_max and attention_entropy of shape [heads] (divide by `attention_count`); agents
  without maps give empty arrays.
  """
  lead, (heads, h, w) = attention.shape[:-3], attention.shape[-3:]
  flat = attention.reshape(int(np.prod(lead)), heads, h * w)
  if flat.shape[-1] <= 1:  # The tiny agent's 1x1 dummy maps.
    flat = flat[:, :0]
  entropy = -jnp.sum(flat * jnp.log(jnp.maximum(flat, 1e-30)), -1)
  return dict(attention_max=jnp.sum(jnp.max(flat, -1, initial=0.0), 0),
              attention_entropy=jnp.sum(entropy, 0),
              attention_count=jnp.asarray(flat.shape[0], jnp.float32))


def make_clip(config) -> optax.GradientTransformation:
  """Gradient clipping: global norm at `grad_clip`, or each element to [-grad_clip, grad_clip]."""
  if config.grad_clip_mode == "global_norm":
    return optax.clip_by_global_norm(config.grad_clip)
  if config.grad_clip_mode == "value":
    return optax.clip(config.grad_clip)
  raise ValueError(f"grad_clip_mode {config.grad_clip_mode!r}: use 'global_norm' or 'value'")


def make_optimizer(config) -> optax.GradientTransformation:
  """After clipping: the paper's RMSProp (lr 2e-4, decay 0.99, eps 0.01 inside the sqrt as in TF,
  momentum 0), or Adam (`optimizer='adam'`, betas 0.9/`decay`, eps `eps`) for short CPU runs.

  With RMSProp's large eps, steps are ~lr * g / 0.1: gradients far below 0.1 (those of the query
  network while attention is still uniform) barely move the weights. Adam normalises them.
  """
  clip = make_clip(config)
  name = config.optimizer
  if name == "rmsprop":
    momentum = config.momentum if config.momentum else None
    return optax.chain(clip, optax.rmsprop(config.learning_rate, decay=config.decay,
                                           eps=config.eps, eps_in_sqrt=True, momentum=momentum,
                                           initial_scale=config.rmsprop_initial_scale))
  if name == "adam":
    return optax.chain(clip, optax.adam(config.learning_rate, b1=0.9, b2=config.decay,
                                        eps=config.eps))
  raise ValueError(f"optimizer {name!r}: use 'rmsprop' (the paper's) or 'adam'")


def learner_devices(local_ids) -> list[jax.Device]:
  """The learner devices of every process: the same local indices on each (global order)."""
  by_process: dict[int, list[jax.Device]] = {}
  for d in jax.devices():
    by_process.setdefault(d.process_index, []).append(d)
  devices = []
  for p in sorted(by_process):
    local = sorted(by_process[p], key=lambda d: d.id)
    for i in local_ids:
      if i >= len(local):
        raise ValueError(f"learner device index {i} but process {p} has {len(local)} devices; "
                         "fix learner_device_ids.")
      devices.append(local[i])
  return devices


def to_local(tree):
  """A host-local numpy copy of a replicated (possibly multi-process) pytree."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data)
                      if isinstance(x, jax.Array) else np.asarray(x), tree)


class Learner:
  """Data-parallel update over `devices` (all processes'): batch split on its batch axis, gradients psum'd.

  The loss is a sum over the batch, so the all-reduce is a psum (= pmean x devices): the update
  equals the single-device update on the whole batch, up to float summation order.
  """

  def __init__(self, agent, config, devices: list[jax.Device], loss_config: LossConfig):
    self.agent = agent
    self.mesh = Mesh(np.array(devices), ("batch",))
    self.num_devices = len(devices)
    self.optimizer = make_optimizer(config)
    self.loss_config = loss_config
    self.replicated = NamedSharding(self.mesh, P())
    self.time_major = NamedSharding(self.mesh, P(None, "batch"))
    self.batch_major = NamedSharding(self.mesh, P("batch"))

    def loss_fn(variables, traj, init_state):
      """(loss, (metrics, the non-trained collections as this batch updates them))."""
      prev_action, prev_reward, reset = agent_inputs(traj["first"], traj["reward"],
                                                     traj["prev_action"], agent.reward_clip)
      out, _, updated = agent.training_unroll(
          variables, traj["obs"], prev_action, prev_reward, reset, init_state)
      loss, metrics = vtrace_loss(out.logits, out.value, traj["logits"], traj["action"],
                                  traj["reward"], traj["first"], loss_config)
      metrics.update(attention_health(out.attention[:-1]))
      return loss, (metrics, updated)
    self.loss_fn = loss_fn

    def update(variables, opt_state, traj, init_state):
      params, fixed = trained(variables), non_trained(variables)
      grads, (metrics, updated) = jax.grad(
          lambda p: loss_fn({**p, **fixed}, traj, init_state), has_aux=True)(params)
      grads = jax.lax.psum(grads, "batch")
      metrics = jax.lax.psum(metrics, "batch")
      metrics["grad_norm"] = optax.tree.norm(grads)
      updates, opt_state = self.optimizer.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      # Not trained: each device's update from its share of the batch, averaged as flax's
      # examples average `batch_stats`.
      return {**params, **jax.lax.pmean(updated, "batch")}, opt_state, metrics

    self._update = jax.jit(
        jax.shard_map(update, mesh=self.mesh,
                      in_specs=(P(), P(), P(None, "batch"), P("batch")),
                      out_specs=(P(), P(), P()),
                      # rlax/flax scans start from unsharded carries; replication is by psum.
                      check_vma=False),
        # Params are not donated: actors may still be copying the previous version.
        donate_argnums=(1,))

  def replicate(self, tree):
    """Host pytree (identical on every process) -> replicated global arrays on the learner mesh."""
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self.replicated, np.asarray(x),
                                                          np.shape(x)), tree)

  def init(self, variables):
    """Replicated (variables, optimiser state); the optimiser sees only the trained collection."""
    return self.replicate(variables), self.replicate(self.optimizer.init(trained(variables)))

  def shard_batch(self, traj, init_state):
    """This process's share of the batch (time-major [T+1, b, ...]) -> global arrays."""
    traj = jax.tree.map(lambda x: jax.make_array_from_process_local_data(self.time_major, x),
                        traj)
    init_state = jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self.batch_major, np.asarray(x)),
        init_state)
    return traj, init_state

  def update(self, params, opt_state, traj, init_state):
    return self._update(params, opt_state, traj, init_state)


def stack_trajectories(trajs: list[dict]) -> tuple[dict, Any]:
  """List of per-env unrolls ([T+1, ...] each) -> time-major batch [T+1, B, ...] and init_state [B, ...]."""
  batch = {k: np.stack([t[k] for t in trajs], axis=1) for k in TRAJ_KEYS}
  init_state = jax.tree.map(lambda *xs: np.stack(xs), *[t["init_state"] for t in trajs])
  return batch, init_state
