"""A minimal recurrent conv agent with the same interface as `s3ta_jax.agent`.

Used where speed matters more than the model: unit tests of the actor–learner and the CPU Catch
check. It is not a paper model: conv torso -> LSTM -> policy logits and value.

  agent.apply(params, obs[B,H,W,3], prev_action[B], prev_reward[B], reset[B], state, method="step")
  agent.apply(params, obs[T,B,...], prev_action[T,B], prev_reward[T,B], reset[T,B], state, method="unroll")
both return (AgentOutput, new_state); reset[t] zeroes the state before obs[t] is processed.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from s3ta_jax.agent import AgentOutput  # Its attention here: a dummy [..., 1, 1, 1] map.


def tiny_config() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      kind="tiny", frame_height=40, frame_width=32, channels=16, hidden=64))


class _Core(nn.Module):
  hidden: int

  @nn.compact
  def __call__(self, carry, inputs):
    x, reset = inputs
    carry = jax.tree.map(lambda c: jnp.where(reset[:, None], 0.0, c), carry)
    carry, h = nn.OptimizedLSTMCell(self.hidden, name="lstm")(carry, x)
    return carry, h


_ScanCore = nn.scan(_Core, variable_broadcast="params", split_rngs={"params": False},
                    in_axes=0, out_axes=0)


class TinyAgent(nn.Module):
  num_actions: int
  channels: int = 16
  hidden: int = 64

  def setup(self):
    self.conv1 = nn.Conv(self.channels, (4, 4), strides=(2, 2))
    self.conv2 = nn.Conv(2 * self.channels, (3, 3), strides=(2, 2))
    self.embed = nn.Dense(self.hidden)
    self.core = _ScanCore(self.hidden)
    self.policy = nn.Dense(self.num_actions)
    self.baseline = nn.Dense(1)

  def _torso(self, obs, prev_action, prev_reward):
    x = obs.astype(jnp.float32) / 255.0
    x = nn.relu(self.conv2(nn.relu(self.conv1(x))))
    x = x.reshape(x.shape[:-3] + (-1,))
    extra = [jax.nn.one_hot(prev_action, self.num_actions), prev_reward[..., None]]
    return nn.relu(self.embed(jnp.concatenate([x] + extra, axis=-1)))

  def _heads(self, h):
    logits = self.policy(h)
    value = self.baseline(h)[..., 0]
    attention = jnp.ones(h.shape[:-1] + (1, 1, 1), h.dtype)
    return AgentOutput(logits, value, attention)

  def unroll(self, obs, prev_action, prev_reward, reset, state):
    x = self._torso(obs, prev_action, prev_reward)
    state, h = self.core(state, (x, reset))
    return self._heads(h), state

  def step(self, obs, prev_action, prev_reward, reset, state):
    out, state = self.unroll(obs[None], prev_action[None], prev_reward[None], reset[None], state)
    return jax.tree.map(lambda x: x[0], out), state

  def __call__(self, *args):
    return self.unroll(*args)


def make_agent(config, num_actions: int) -> nn.Module:
  return TinyAgent(num_actions, config.channels, config.hidden)


def initial_state(config, batch_size: int):
  zeros = jnp.zeros((batch_size, config.hidden), jnp.float32)
  return (zeros, zeros)


def init_params(agent, config, rng, batch_size: int = 1):
  obs = jnp.zeros((1, batch_size, config.frame_height, config.frame_width, 3), jnp.uint8)
  a = jnp.zeros((1, batch_size), jnp.int32)
  r = jnp.zeros((1, batch_size), jnp.float32)
  reset = jnp.ones((1, batch_size), bool)
  return agent.init(rng, obs, a, r, reset, initial_state(config, batch_size), method="unroll")
