"""RAM playing Catch (Mnih et al. 2014, sec. 4.2), trained with REINFORCE from the reward alone.

Per frame t of a game (Fig. 1, sec. 3.1), on screen x_t:
  ρ_t = retina(x_t, l_{t-1})                 6×6 retina, 3 scales (ram_jax.glimpse)
  g_t = f_g(ρ_t, l_{t-1})                    glimpse network (ram_jax.model.GlimpseNetwork)
  h_t = LSTM(h_{t-1}, g_t)                   256 LSTM units (ram_jax.model.LSTMCore)
  l_t ~ N(f_l(h_t), σ²I)                     location action (ram_jax.model.LocationNetwork)
  a_t ~ softmax(Linear(h_t))                 game action: left / stay / right (linear softmax)
  b_t = Linear(stop_gradient(h_t))           learned baseline (eq. 2)

Both actions are trained by REINFORCE (eq. 2): the loss is
  −1/M Σ_i Σ_t [log π(a_t^i | s_{1:t}^i) + log π(l_t^i | s_{1:t}^i)] · (R_t^i − b_t^i)
plus the baseline's squared error (R_t − b_t)², where R_t = Σ_{t' ≥ t} r_{t'} is the reward
collected after the actions of step t (γ = 1, one game per episode). There is no supervised
signal here: the glimpse network and core get gradient only through the two log-probabilities.

Choices the paper leaves open (documented here, configurable in `configs/ram_catch.py`):
* Episodes are games. Every game lasts exactly `catch.STEPS_PER_GAME` = 23 frames, so a training
  step plays one whole game in each of `num_envs` vmapped games, in lockstep: no truncation and no
  bootstrapping. The LSTM state starts at zero and the first glimpse `l_0` at the screen centre,
  (0, 0), every game (its coarsest 24×24 scale then covers the whole screen).
* Retina intensities: the paper resizes each scale's patch to 6×6 without saying how. Averaging
  (ram_jax.glimpse) turns the one-pixel ball into 1/16 at the coarsest scale, a near-invisible
  input; with `sum_pool=True` (default) scale k is multiplied by 4^k, i.e. block sums, so the ball
  reads 1 at every scale and the paddle 1–2. The glimpse is then multiplied by `retina_gain`
  (10): a glimpse holds at most a few lit pixels out of 108, so with fan-in-scaled initialisation
  the features (and the initial logits' dependence on the screen) are ~100× smaller than unit
  scale and Adam needs thousands of steps just to grow them. In short runs, gain 1 learned
  nothing in 2–3M frames (Adam 5e-4 and 1e-3, 128 games per step) while gain 10 (64 games per
  step) caught 30% of balls after 0.8M frames.
* An entropy bonus on the game action (`entropy_weight`, not in the paper) keeps Adam from
  collapsing the game policy to one action before it has learned anything.
* The location mean is tanh(Linear(h)) and the sample is clipped to [-1, 1] only for the sensor
  (see `LocationNetwork`).
* Evaluation plays the greedy policy (argmax game action, location = mean); training catch rate
  is that of the sampled policy.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from ram_jax import catch
from ram_jax import glimpse as glimpse_lib
from ram_jax import model as model_lib


class CatchAgent(nn.Module):
  """One frame of the RAM Catch agent: `(carry, screens, noise) -> (carry, outputs)`.

  `carry` is `(lstm_carry, location)` with `location` `[B, 2]` the l_{t-1} to look at now;
  `screens` `[B, 24, 24]`; `noise` `[B, 2]` standard normal, or None for the mean location.
  Outputs: `logits` `[B, 3]` (game action), `location_sample`/`location_mean` `[B, 2]`,
  `location_log_prob` `[B]`, `baseline` `[B]`, `glimpse` `[B, K, s, s, 1]`, `location` `[B, 2]`
  (where this frame's glimpse was taken).
  """
  glimpse_size: int = 6
  num_scales: int = 3
  hidden: int = 256
  glimpse_features: int = 128
  location_features: int = 128
  glimpse_output: int = 256
  location_std: float = 0.3
  sum_pool: bool = True  # Scale k's mean-pooled pixels × 4^k (see module docstring).
  retina_gain: float = 10.0  # Multiplies the retina input (see module docstring).

  @nn.compact
  def __call__(self, carry, screens: chex.Array, noise: chex.Array | None):
    chex.assert_rank(screens, 3)
    lstm_carry, location = carry
    rho = glimpse_lib.retina(screens[..., None], location, self.glimpse_size, self.num_scales)
    if self.sum_pool:
      gain = 4.0 ** jnp.arange(self.num_scales, dtype=jnp.float32)
      rho = rho * gain[None, :, None, None, None]
    rho = rho * self.retina_gain
    g = model_lib.GlimpseNetwork(self.glimpse_features, self.location_features,
                                 self.glimpse_output, name="glimpse_net")(rho, location)
    lstm_carry, h = model_lib.LSTMCore(self.hidden, name="core")(lstm_carry, g)
    # Unlike the classifier, the core learns only from REINFORCE, so the policy heads read h with
    # gradient; the baseline must not shape h (it would bias the policy gradient's features).
    sample, mean, log_prob = model_lib.LocationNetwork(self.location_std, name="location_net")(
        h, noise)
    logits = nn.Dense(catch.NUM_ACTIONS, name="action_net")(h)
    baseline = nn.Dense(1, name="baseline")(jax.lax.stop_gradient(h))[:, 0]
    next_location = jnp.clip(sample, -1.0, 1.0)
    out = dict(logits=logits, location_sample=sample, location_mean=mean,
               location_log_prob=log_prob, baseline=baseline, glimpse=rho, location=location)
    return (lstm_carry, next_location), out

  def initial_carry(self, batch_size: int):
    """Zero LSTM state and the first glimpse at the screen centre."""
    zeros = jnp.zeros((batch_size, self.hidden), jnp.float32)
    return (zeros, zeros), jnp.zeros((batch_size, 2), jnp.float32)


def make_agent(config) -> CatchAgent:
  return CatchAgent(glimpse_size=config.glimpse_size, num_scales=config.num_scales,
                    hidden=config.hidden, glimpse_features=config.glimpse_features,
                    location_features=config.location_features,
                    glimpse_output=config.glimpse_output, location_std=config.location_std,
                    sum_pool=config.sum_pool, retina_gain=config.retina_gain)


def init_params(agent: CatchAgent, key: chex.PRNGKey):
  carry = agent.initial_carry(1)
  screens = jnp.zeros((1, catch.SIZE, catch.SIZE), jnp.float32)
  return agent.init(key, carry, screens, jnp.zeros((1, 2)))["params"]


def returns_to_go(rewards: chex.Array) -> chex.Array:
  """R_t = Σ_{t' ≥ t} r_{t'} (eq. 2, γ = 1) over the time axis 0 of `[T, B]` rewards."""
  chex.assert_rank(rewards, 2)
  return jnp.flip(jnp.cumsum(jnp.flip(rewards, 0), axis=0), 0)


def reinforce_loss(logits: chex.Array, actions: chex.Array, location_log_probs: chex.Array,
                   baselines: chex.Array, rewards: chex.Array, baseline_weight: float = 1.0,
                   entropy_weight: float = 0.0):
  """REINFORCE with a learned baseline (eq. 2) for the game and location actions.

  Time-major inputs: `logits` `[T, B, A]`, `actions` `[T, B]` int, `location_log_probs` `[T, B]`
  (log N(l_t; f_l(h_t), σ²), differentiable w.r.t. the mean), `baselines` `[T, B]`,
  `rewards` `[T, B]` (r_{t+1}, the reward for step t's actions). Returns `(loss, metrics)`:

    loss = −1/B Σ_{b,t} [log π(a_t) + log π(l_t)] · sg(R_t − b_t)
           + baseline_weight · 1/B Σ_{b,t} ½ (R_t − b_t)²
           − entropy_weight · 1/B Σ_{b,t} H(π(· | h_t))

  (sum over time, mean over games, as eq. 2 with M = B; sg = stop_gradient.)
  """
  chex.assert_rank([logits, actions, location_log_probs, baselines, rewards], [3, 2, 2, 2, 2])
  chex.assert_equal_shape([actions, location_log_probs, baselines, rewards])
  batch = rewards.shape[1]
  returns = returns_to_go(rewards)
  advantages = jax.lax.stop_gradient(returns - baselines)
  log_pi = jax.nn.log_softmax(logits)
  action_log_probs = jnp.take_along_axis(log_pi, actions[..., None], axis=-1)[..., 0]
  policy_loss = -jnp.sum((action_log_probs + location_log_probs) * advantages) / batch
  baseline_loss = 0.5 * jnp.sum(jnp.square(returns - baselines)) / batch
  entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)
  loss = policy_loss + baseline_weight * baseline_loss - entropy_weight * jnp.sum(entropy) / batch
  metrics = dict(policy_loss=policy_loss, baseline_loss=baseline_loss,
                 entropy=jnp.mean(entropy), advantage=jnp.mean(jnp.abs(advantages)))
  return loss, metrics


class Rollout(NamedTuple):
  """One game per env, time-major `[T, B, ...]`."""
  outputs: dict[str, chex.Array]
  actions: chex.Array
  rewards: chex.Array
  dones: chex.Array
  screens: chex.Array


def play_games(agent: CatchAgent, params, env_state: catch.CatchState, key: chex.PRNGKey,
               greedy: bool = False) -> tuple[catch.CatchState, Rollout]:
  """Plays one whole game in each env (`env_state` must be fresh games, as `step` leaves them).

  Differentiable w.r.t. `params` (the actions are sampled, so carry no gradient). `greedy`
  follows argmax game actions and mean locations. Returns the next (fresh) games and the rollout.
  """
  batch = env_state.ball_x.shape[0]

  def frame(carry, key):
    agent_carry, env_state = carry
    noise_key, action_key, env_key = jax.random.split(key, 3)
    screens = catch.batch_render(env_state)
    noise = None if greedy else jax.random.normal(noise_key, (batch, 2))
    agent_carry, out = agent.apply({"params": params}, agent_carry, screens, noise)
    if greedy:
      actions = jnp.argmax(out["logits"], axis=-1)
    else:
      actions = jax.random.categorical(action_key, jax.lax.stop_gradient(out["logits"]))
    env_state, _, rewards, dones = catch.batch_step(env_state, actions,
                                                    jax.random.split(env_key, batch))
    return (agent_carry, env_state), (out, actions, rewards, dones, screens)

  keys = jax.random.split(key, catch.STEPS_PER_GAME)
  (_, env_state), (outs, actions, rewards, dones, screens) = jax.lax.scan(
      frame, (agent.initial_carry(batch), env_state), keys)
  return env_state, Rollout(outs, actions, rewards, dones, screens)


class TrainState(NamedTuple):
  step: chex.Array
  params: Any
  opt_state: Any
  env_state: catch.CatchState
  key: chex.PRNGKey


def make_optimizer(config, num_steps: int = 1) -> optax.GradientTransformation:
  """Adam or SGD+momentum, with the learning rate constant or cosine-decayed over `num_steps`."""
  if config.lr_schedule == "constant":
    lr = config.learning_rate
  elif config.lr_schedule == "cosine":
    lr = optax.cosine_decay_schedule(config.learning_rate, max(num_steps, 1),
                                     alpha=config.final_lr_fraction)
  else:
    raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}; use 'constant' or 'cosine'.")
  if config.optimizer == "adam":
    opt = optax.adam(lr)
  elif config.optimizer == "sgd":
    opt = optax.sgd(lr, momentum=config.momentum)
  else:
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use 'adam' or 'sgd'.")
  return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), opt)


def init_train_state(agent: CatchAgent, optimizer, num_envs: int, key) -> TrainState:
  param_key, env_key, key = jax.random.split(key, 3)
  params = init_params(agent, param_key)
  env_state = catch.batch_reset(jax.random.split(env_key, num_envs))
  return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), env_state, key)


def make_loss_fn(agent: CatchAgent, baseline_weight: float, entropy_weight: float):
  """`loss_fn(params, env_state, key) -> (loss, (next_env_state, metrics, rollout))`.

  Plays one game in each env with the sampled policy and returns its REINFORCE loss; the gradient
  w.r.t. `params` is eq. (2)'s estimate (plus the baseline's regression gradient).
  """

  def loss_fn(params, env_state, key):
    env_state, ro = play_games(agent, params, env_state, key)
    loss, metrics = reinforce_loss(ro.outputs["logits"], ro.actions,
                                   ro.outputs["location_log_prob"], ro.outputs["baseline"],
                                   ro.rewards, baseline_weight, entropy_weight)
    games = jnp.maximum(jnp.sum(ro.dones), 1)
    metrics["catch_rate"] = jnp.sum(ro.rewards) / games
    return loss, (env_state, metrics, ro)

  return loss_fn


def make_train_step(agent: CatchAgent, optimizer, baseline_weight: float, entropy_weight: float):
  """One update = one game in each env + REINFORCE gradient + optimizer step (jit this)."""
  loss_fn = make_loss_fn(agent, baseline_weight, entropy_weight)

  def train_step(state: TrainState):
    key, play_key = jax.random.split(state.key)
    grads, (env_state, metrics, _) = jax.grad(loss_fn, has_aux=True)(
        state.params, state.env_state, play_key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics["grad_norm"] = optax.tree.norm(grads)
    return TrainState(state.step + 1, params, opt_state, env_state, key), metrics

  return train_step


def evaluate(agent: CatchAgent, params, key: chex.PRNGKey, num_games: int,
             greedy: bool = True) -> chex.Array:
  """Catch rate of `num_games` fresh games (one game per env, all in one batch)."""
  reset_key, play_key = jax.random.split(key)
  env_state = catch.batch_reset(jax.random.split(reset_key, num_games))
  _, ro = play_games(agent, params, env_state, play_key, greedy=greedy)
  return jnp.sum(ro.rewards) / num_games
