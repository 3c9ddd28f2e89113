"""RAM's hybrid loss (Mnih et al. 2014, sec. 3.2): cross-entropy + REINFORCE with a baseline.

Which gradients flow where (with `RAM(reinforce_to_core=False)`, the default):
  * cross-entropy of the last-step classification -> action, core and glimpse networks
    ("backpropagate the gradients through the core and glimpse networks");
  * REINFORCE, eq. (2): -Σ_t log π(l_t | h_t) · sg(R - b_t) -> location network only
    (`h_t` is stopped before the location head, the sampled `l_t` is stopped, the advantage is
    stopped), "The location network f_l is always trained with REINFORCE"; with
    `reinforce_to_core=True` it also reaches the core and glimpse networks through `h_t`
    (∇_θ log π "computed by standard backpropagation" through the RNN);
  * baseline regression Σ_t (R - b_t)² -> baseline head only ("learn it by reducing the squared
    error between R_t^i's and b_t"); `R` is a constant (argmax of the logits).
The reward is R = 1 if argmax(logits) equals the label else 0, given at the last step only, so
the return from every step t is R_t = R. `reward="probability"` (not the paper's) uses
R = p(label) instead: the same ordering of outcomes, but it moves with every glimpse's effect on
the classifier, not only when the argmax flips, so the gradient estimate has less variance.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax


def classification_reward(logits: chex.Array, labels: chex.Array) -> chex.Array:
  """R = 1 if the classification is right else 0 (sec. 4.1). `[B, C]`, `[B]` -> `[B]`."""
  chex.assert_rank([logits, labels], [2, 1])
  return (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)


def reinforce_loss(log_probs: chex.Array, returns: chex.Array,
                   baselines: chex.Array) -> chex.Array:
  """Surrogate whose gradient is minus eq. (2): -(1/M) Σ_i Σ_t ∇log π(u_t^i) (R_t^i - b_t^i).

  Args:
    log_probs: `[B, T]` log π(l_t | s_{1:t}), differentiable w.r.t. the policy parameters.
    returns: `[B]` (R, the same for every step: reward only at the end) or `[B, T]` (R_t).
    baselines: `[B, T]` b_t; the advantage R_t - b_t is a constant here (stop_gradient).
  """
  chex.assert_rank([log_probs, baselines], [2, 2])
  if returns.ndim == 1:
    returns = jnp.broadcast_to(returns[:, None], log_probs.shape)
  chex.assert_equal_shape([log_probs, returns, baselines])
  advantage = jax.lax.stop_gradient(returns - baselines)
  return -jnp.mean(jnp.sum(log_probs * advantage, axis=1))


def baseline_loss(returns: chex.Array, baselines: chex.Array) -> chex.Array:
  """(1/M) Σ_i Σ_t (R_t^i - b_t^i)², the baseline's regression to the expected return."""
  if returns.ndim == 1:
    returns = jnp.broadcast_to(returns[:, None], baselines.shape)
  chex.assert_equal_shape([returns, baselines])
  return jnp.mean(jnp.sum((jax.lax.stop_gradient(returns) - baselines)**2, axis=1))


def probability_reward(logits: chex.Array, labels: chex.Array) -> chex.Array:
  """R = p(correct class), a constant: not the paper's reward, a lower-variance option."""
  chex.assert_rank([logits, labels], [2, 1])
  probs = jax.nn.softmax(jax.lax.stop_gradient(logits))
  return jnp.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]


REWARDS = {"correct": classification_reward, "probability": probability_reward}


def position_loss(predictions: chex.Array, target: chex.Array) -> chex.Array:
  """Mean over steps and coordinates of (p_t - target)², `[B, T, 2]` against `[B, 2]`: asks the
  core to know where the digit is (not in the paper; `config.position_weight`)."""
  chex.assert_rank([predictions, target], [3, 2])
  return jnp.mean((predictions - target[:, None, :])**2)


def leave_one_out_baseline(rewards: chex.Array, samples_per_image: int) -> chex.Array:
  """b_i = mean reward of the other episodes on the same image; `[B]` -> `[B]`.

  Eq. (2) averages over M episodes; when they share an image (rows grouped consecutively, M
  per image), the others' mean is an unbiased baseline that removes how hard the image is from
  the advantage, which a learned b_t = Linear(h_t) does only in part.
  """
  chex.assert_rank(rewards, 1)
  if samples_per_image < 2 or rewards.shape[0] % samples_per_image:
    raise ValueError(f"need >= 2 episodes per image dividing the batch of {rewards.shape[0]}, got "
                     f"samples_per_image={samples_per_image}.")
  groups = rewards.reshape(-1, samples_per_image)
  others = (jnp.sum(groups, axis=1, keepdims=True) - groups) / (samples_per_image - 1)
  return jax.lax.stop_gradient(others.reshape(-1))


def hybrid_loss(outputs: dict, labels: chex.Array, reinforce_weight: float = 1.0,
                baseline_weight: float = 1.0, reward: str = "correct", samples_per_image: int = 1):
  """Cross-entropy + REINFORCE + baseline loss from `RAM` outputs. Returns `(loss, metrics)`.

  Models without a location policy (the FC / conv baselines) give only `logits`; then the loss is
  the cross-entropy alone. With `samples_per_image` M > 1 (each image M times in a row),
  REINFORCE's baseline is `leave_one_out_baseline`; the learned b_t is still fitted and reported.
  """
  logits = outputs["logits"]
  cross_entropy = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
  accuracy = classification_reward(logits, labels)
  reward = REWARDS[reward](logits, labels)
  metrics = dict(cross_entropy=cross_entropy, accuracy=jnp.mean(accuracy))
  loss = cross_entropy
  if "log_probs" in outputs and outputs["log_probs"].shape[1] > 0:
    baselines = outputs["baselines"]
    if samples_per_image > 1:
      baselines = jnp.broadcast_to(leave_one_out_baseline(reward, samples_per_image)[:, None],
                                   baselines.shape)
    reinforce = reinforce_loss(outputs["log_probs"], reward, baselines)
    regression = baseline_loss(reward, outputs["baselines"])
    loss = loss + reinforce_weight * reinforce + baseline_weight * regression
    metrics.update(reinforce=reinforce, baseline_mse=regression / outputs["baselines"].shape[1])
  metrics["loss"] = loss
  return loss, metrics
