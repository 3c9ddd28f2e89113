"""The one rollout: the agent inputs it computes, and that the actor and the learner feed the
agent the same inputs whatever the run's reward clip."""
import queue
import threading

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from s3ta_jax.agent import AgentOutput
from s3ta_jax.impala import actor as actor_lib
from s3ta_jax.impala import agents
from s3ta_jax.impala import learner as learner_lib
from s3ta_jax.impala import rollout
from test_impala_actor import ScriptedEnvs


def test_agent_inputs_zero_after_reset_and_clip_the_reward_at_the_runs_clip():
  first = np.array([[True], [False], [False], [True]])
  reward = np.array([[5.0], [-3.0], [0.25], [0.5]])
  prev_action = np.array([[2], [1], [4], [3]])
  for clip, fed in ((1.0, [0.0, -1.0, 0.25, 0.0]), (0.5, [0.0, -0.5, 0.25, 0.0])):
    got_action, got_reward, reset = rollout.agent_inputs(first, reward, prev_action, clip)
    np.testing.assert_array_equal(got_action[:, 0], [0, 1, 4, 0])
    np.testing.assert_array_equal(got_reward[:, 0], fed)
    np.testing.assert_array_equal(reset[:, 0], [True, False, False, True])


class EchoAgent(nn.Module):
  """Logits that are the agent's inputs: [prev_reward, prev_action, reset, steps since reset, 0]
  (times a parameter, so the learner has something to differentiate)."""

  @nn.compact
  def unroll(self, obs, prev_action, prev_reward, reset, state):
    scale = self.param("scale", nn.initializers.ones, ())

    def step(count, inputs):
      action, reward, first = inputs
      count = jnp.where(first, 0.0, count) + 1.0
      return count, jnp.stack([reward, action.astype(jnp.float32), first.astype(jnp.float32),
                               count, jnp.zeros_like(reward)], -1)

    count, echoed = jax.lax.scan(step, state, (prev_action, prev_reward, reset))
    t, b = prev_action.shape
    return AgentOutput(scale * echoed, jnp.zeros((t, b)), jnp.ones((t, b, 1, 1, 1))), count

  def step(self, obs, prev_action, prev_reward, reset, state):
    out, state = self.unroll(obs[None], prev_action[None], prev_reward[None], reset[None], state)
    return jax.tree.map(lambda x: x[0], out), state


def _echo_agent(reward_clip):
  module = EchoAgent()
  initial_state = lambda b: jnp.zeros((b,))
  z = jnp.zeros((1, 1))
  init = lambda rng: module.init(rng, jnp.zeros((1, 1, 4, 3, 3), jnp.uint8), z.astype(jnp.int32),
                                 z, z.astype(bool), initial_state(1), method="unroll")
  return agents.ImpalaAgent(ml_collections.ConfigDict(dict(kind="echo")), 5, module,
                            initial_state, init, (4, 3), reward_clip=reward_clip)


def test_actor_and_learner_feed_the_agent_the_same_inputs_with_another_reward_clip():
  """With reward_clip=0.5 the actor feeds the agent rewards clipped at 0.5; the learner's unroll
  of the same unrolls must see the same inputs, so its policy is the behaviour policy and every
  importance ratio is 1. (Before the one rollout, the learner clipped at 1: the ratios summed to
  74.27 of 75.)"""
  agent = _echo_agent(reward_clip=0.5)
  params = agent.init_params(jax.random.PRNGKey(0))
  store = actor_lib.ParamStore()
  store.set(params)
  unrolls = queue.Queue()
  actor = actor_lib.Actor(0, agent, lambda: ScriptedEnvs(4, 2), store, unrolls, 5,
                          jax.devices()[0], 0, threading.Event(), actor_lib.EpisodeLog())
  actor.run(max_steps=60)
  traj, init_state = learner_lib.stack_trajectories([unrolls.get() for _ in range(unrolls.qsize())])
  fed = traj["logits"][..., 0]  # The previous reward the actor fed the agent.
  assert np.abs(traj["reward"]).max() > 1.0 and np.abs(fed).max() == 0.5
  config = ml_collections.ConfigDict(dict(optimizer="rmsprop", learning_rate=1e-3, decay=0.99,
                                          eps=0.01, momentum=0.0, grad_clip_mode="global_norm",
                                          grad_clip=1.0, rmsprop_initial_scale=0.0))
  learner = learner_lib.Learner(agent, config, [jax.devices()[0]],
                                learner_lib.LossConfig(reward_clip=0.5))
  _, (metrics, _) = learner.loss_fn(params, jax.tree.map(jnp.asarray, traj), init_state)
  transitions = (traj["action"].shape[0] - 1) * traj["action"].shape[1]
  np.testing.assert_allclose(float(metrics["rho"]), transitions, rtol=1e-6)
