"""The agent as the actor and learner use it: `s3ta_jax.agent` (S3TA, its ablations and
baselines) or the tiny stand-in (`kind="tiny"`), behind one small interface.

The actor and learner only use `ImpalaAgent`, so the observation size the actors render follows
the agent config (paper: full 210x160 RGB frames, App. A.1.1; small: smaller frames).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import ml_collections

from s3ta_jax import agent as s3ta_agent
from s3ta_jax.impala import tiny_agent


class ImpalaAgent(NamedTuple):
  """A flax agent module with its config, action count and the calls the actor-learner makes."""
  config: ml_collections.ConfigDict
  num_actions: int
  module: Any                         # flax module with `step` and `unroll` methods
  initial_state: Callable[[int], Any]  # batch_size -> state pytree of zeros
  init_params: Callable[[jax.Array], Any]
  frame_shape: tuple[int, int]         # (H, W) the environments must render
  # The previous reward is fed clipped to [-reward_clip, reward_clip] (`rollout.agent_inputs`).
  reward_clip: float = 1.0

  def step(self, params, obs, prev_action, prev_reward, reset, state):
    return self.module.apply(params, obs, prev_action, prev_reward, reset, state, method="step")

  def step_with_intermediates(self, params, obs, prev_action, prev_reward, reset, state):
    """`step`'s (outputs, state) and the intermediates the agent sows (maps, queries, gates)."""
    (out, new_state), variables = self.module.apply(
        params, obs, prev_action, prev_reward, reset, state, method="step",
        mutable=["intermediates"])
    return out, new_state, variables.get("intermediates", {})  # The tiny agent sows none.

  def unroll(self, params, obs, prev_action, prev_reward, reset, state):
    return self.module.apply(params, obs, prev_action, prev_reward, reset, state,
                             method="unroll")

  def training_unroll(self, variables, obs, prev_action, prev_reward, reset, state):
    """`unroll`'s (outputs, final state) and the agent's non-trained collections (`answer_stats`:
    the running answer mean) as this batch updates them, flax's `batch_stats` pattern; {} for
    agents without any."""
    collections = non_trained(variables)
    if not collections:
      return (*self.unroll(variables, obs, prev_action, prev_reward, reset, state), {})
    (out, final_state), updated = self.module.apply(
        variables, obs, prev_action, prev_reward, reset, state, method="unroll",
        mutable=list(collections))
    return out, final_state, dict(updated)


def trained(variables) -> dict:
  """The collection the optimiser trains: {"params": ...}."""
  return {"params": variables["params"]}


def non_trained(variables) -> dict:
  """Every other collection (the running answer mean): updated by training unrolls, never by the
  optimiser (whose weight decay or momentum must not touch it)."""
  return {k: v for k, v in variables.items() if k != "params"}


def frame_shape(config) -> tuple[int, int]:
  """(H, W) of the frames an agent config expects."""
  return int(config.frame_height), int(config.frame_width)


def _library(config):
  return tiny_agent if config.kind == "tiny" else s3ta_agent


def build(config: ml_collections.ConfigDict, num_actions: int,
          reward_clip: float = 1.0) -> ImpalaAgent:
  """The agent an agent config describes: `agent_config.agent_config(...)` or
  `tiny_agent.tiny_config()`, for an environment's action count."""
  lib = _library(config)
  module = lib.make_agent(config, num_actions)
  return ImpalaAgent(config=config, num_actions=num_actions, module=module,
                     initial_state=lambda b: lib.initial_state(config, b),
                     init_params=lambda rng: lib.init_params(module, config, rng),
                     frame_shape=frame_shape(config), reward_clip=reward_clip)


def for_run(config: ml_collections.ConfigDict, num_actions: int) -> ImpalaAgent:
  """The agent of a `launch.atari` run config: its `agent` config, fed rewards clipped at the
  run's `reward_clip` (the one place that field reaches the agent's inputs)."""
  return build(config.agent, num_actions, reward_clip=config.reward_clip)
