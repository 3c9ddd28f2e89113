"""The one rollout: batched environments stepped by an agent, used by the actors, evaluation, the
interpretability recorder and the diagnostics, so all of them feed the agent what the learner does.

At agent timestep t the agent is fed (`agent_inputs`, the same function in actor and learner):
  reset[t]        obs[t] starts an episode: the agent's recurrent state is zeroed first;
  prev_action[t]  the action taken at t-1, or 0 after a reset;
  prev_reward[t]  the reward that arrived with obs[t] (for the action at t-1), clipped to
                  [-reward_clip, reward_clip], or 0 after a reset.

Terminal observations (`done`) are not agent timesteps: the agent's state is left as it was, the
action chosen for them is ignored by the environment (envpool semantics, `envs.py`), and their
reward is carried into the first timestep of the next episode (`Step.reward` there), as in
IMPALA's environment wrapper. Episode returns are unclipped and summed over every observation of
a game (with episodic life, over all its lives).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def agent_inputs(first, reward, prev_action, reward_clip: float):
  """(prev_action, prev_reward, reset) the agent is fed at timesteps with these `first` flags,
  arrived rewards and previous actions (any leading shape; see the module docstring)."""
  first = jnp.asarray(first)
  prev_reward = jnp.where(first, 0.0, jnp.clip(reward, -reward_clip, reward_clip))
  prev_action = jnp.where(first, 0, prev_action)
  return prev_action.astype(jnp.int32), prev_reward.astype(jnp.float32), first


def make_policy_step(agent, greedy: bool = False, with_intermediates: bool = False):
  """jitted: gather the batch's states, feed the agent its inputs, choose actions (argmax or
  sampled), scatter the new states back where the step was an agent step (`valid`).

  Returns (action, AgentOutput, all states, the batch's states before the step, the agent's
  inputs, and with `with_intermediates` (diagnostics, pictures) the agent's intermediates and its
  states after the step as it computed them, also at terminal observations; else None. Actors
  leave them out: every output is one more buffer per step.)
  """

  def policy_step(params, state_all, env_ids, obs, first, reward, last_action, valid, rng):
    state = jax.tree.map(lambda s: s[env_ids], state_all)
    inputs = agent_inputs(first, reward, last_action, agent.reward_clip)
    internals = None
    if with_intermediates:
      out, new, intermediates = agent.step_with_intermediates(params, obs, *inputs, state)
      internals = (intermediates, new)
    else:
      out, new = agent.step(params, obs, *inputs, state)
    if greedy:
      action = jnp.argmax(out.logits, -1).astype(jnp.int32)
    else:
      action = jax.random.categorical(rng, out.logits).astype(jnp.int32)
    # Terminal observations are not agent steps: their states stay as they were.
    kept = jax.tree.map(
        lambda n, o: jnp.where(valid.reshape((-1,) + (1,) * (n.ndim - 1)), n, o), new, state)
    state_all = jax.tree.map(lambda s, n: s.at[env_ids].set(n), state_all, kept)
    return action, out, state_all, state, inputs, internals

  return jax.jit(policy_step, donate_argnums=(1,))


class Step(NamedTuple):
  """What one `Rollout.step` saw and did, for the `b` environments that were ready."""
  env_id: np.ndarray        # [b]
  obs: np.ndarray           # [b, H, W, 3] uint8
  first: np.ndarray         # [b] obs starts an episode
  reward: np.ndarray        # [b] the reward that arrived with obs (unclipped; carried on a first)
  valid: np.ndarray         # [b] an agent step (False: a terminal observation)
  done: np.ndarray          # [b] the environment's done (life loss too with episodic life)
  action: np.ndarray        # [b] the action sent
  output: Any               # AgentOutput [b, ...] (device arrays)
  state_before: Any         # the agent's states before this step [b, ...] (device arrays)
  state_after: Any          # and after it, as the agent computed them (with_intermediates)
  inputs: tuple             # (prev_action, prev_reward, reset) [b] fed to the agent (device)
  intermediates: Any        # the agent's intermediates (with_intermediates), else None
  game_over_ids: np.ndarray  # environments whose game ended at this observation
  game_returns: np.ndarray   # their unclipped returns
  game_lengths: np.ndarray   # their lengths in agent steps


class Rollout:
  """Steps batched (async or not) environments with an agent, one `recv` per `step`.

  Keeps each environment's recurrent state (on `device`), previous action, the reward carried
  over a terminal observation and its running game return. `params` may change between steps
  (the actors pass the latest learner parameters).
  """

  def __init__(self, agent, env, device=None, greedy: bool = False,
               with_intermediates: bool = False):
    if tuple(env.obs_shape[:2]) != tuple(agent.frame_shape) or env.num_actions != agent.num_actions:
      raise ValueError(f"env gives {env.obs_shape} frames and {env.num_actions} actions but the "
                       f"agent expects {agent.frame_shape} and {agent.num_actions}; build both "
                       "from the same config.")
    n = env.num_envs
    self.env = env
    self._policy = make_policy_step(agent, greedy, with_intermediates)
    # Separate host copies per leaf: the agent may share one zeros buffer between leaves,
    # which a donated argument must not do.
    self.state_all = jax.device_put(jax.tree.map(np.array, agent.initial_state(n)), device)
    self._was_done = np.ones(n, bool)  # The first observation after reset starts an episode.
    self._pending_reward = np.zeros(n, np.float32)
    self._last_action = np.zeros(n, np.int32)
    self._game_return = np.zeros(n, np.float64)
    self._game_length = np.zeros(n, np.int64)
    env.async_reset()

  def step(self, params, rng) -> Step:
    ts = self.env.recv()
    ids = ts.env_id
    valid = ~ts.done
    first = self._was_done[ids]
    reward = np.where(first, self._pending_reward[ids], ts.reward).astype(np.float32)
    action, out, self.state_all, before, inputs, internals = self._policy(
        params, self.state_all, ids, ts.obs, first, reward, self._last_action[ids], valid, rng)
    intermediates, after = internals if internals is not None else (None, None)
    action = np.asarray(action)
    self.env.send(action, ids)  # Envs step while we do the bookkeeping below.

    self._game_return[ids] += ts.reward
    self._game_length[ids] += valid
    over = ids[ts.done & ts.game_over]
    returns, lengths = self._game_return[over].copy(), self._game_length[over].copy()
    self._game_return[over], self._game_length[over] = 0.0, 0
    self._last_action[ids[valid]] = action[valid]
    self._was_done[ids] = ts.done
    self._pending_reward[ids[~valid]] = ts.reward[~valid]
    return Step(ids, ts.obs, first, reward, valid, ts.done, action, out, before, after, inputs,
                intermediates, over, returns, lengths)

  def game_returns_so_far(self) -> np.ndarray:
    """[num_envs] the unclipped return of each environment's game in progress."""
    return self._game_return.copy()
