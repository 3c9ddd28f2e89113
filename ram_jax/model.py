"""The Recurrent Attention Model (RAM), Mnih et al. 2014, sec. 3.1 and 4, in Flax linen.

Per step t = 1..T (Fig. 1):
  ρ_t = retina(x, l_{t-1})                                    glimpse sensor (ram_jax.glimpse)
  g_t = Rect(Linear(h_g) + Linear(h_l)),  h_g = Rect(Linear(ρ_t)),  h_l = Rect(Linear(l_{t-1}))
  h_t = f_h(h_{t-1}, g_t)                                     rectifier RNN (or LSTM) core
  l_t ~ N(f_l(h_t), σ²I)                                      location policy, fixed σ
  b_t = Linear(h_t)                                           REINFORCE baseline (eq. 2)
and at the last step a_T = softmax(Linear(h_T)). `l_0` is uniform in [-1, 1]² (paper: "the first
glimpse is always random").

Gradient flow (see also ram_jax.losses): sampled locations are actions, so they carry no
gradient, and the baseline head reads `stop_gradient(h_t)`. The location network is trained only
by REINFORCE ("The location network f_l is always trained with REINFORCE", sec. 3.2). Whether
REINFORCE also reaches the core and glimpse networks is `reinforce_to_core`: sec. 3.2 says
∇_θ log π "is just the gradient of the RNN that defines our agent ... computed by standard
backpropagation" (so yes, the paper's reading), but a linear f_l on a core shaped only by the
cross-entropy is the default kept for the runs measured before the option existed.

`GlimpseNetwork`, the cores and `LocationNetwork` are separate modules so other agents (the Catch
agent) can reuse them.
"""
from __future__ import annotations

import math
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from ram_jax import glimpse as glimpse_lib


class GlimpseNetwork(nn.Module):
  """f_g: g = Rect(Linear(h_g) + Linear(h_l)), h_g = Rect(Linear(ρ)), h_l = Rect(Linear(l)) (sec. 4).

  `Linear(h_g) + Linear(h_l)` is computed as one Dense on `[h_g, h_l]` (the same function: the two
  weight matrices stacked, the two biases summed into one) — one matmul instead of two.
  """
  glimpse_features: int = 128  # dim h_g
  location_features: int = 128  # dim h_l
  output_features: int = 256  # dim g

  @nn.compact
  def __call__(self, rho: chex.Array, locations: chex.Array) -> chex.Array:
    """`rho` `[B, K, s, s, C]` from the retina, `locations` `[B, 2]` -> g `[B, output_features]`."""
    h_g = nn.relu(nn.Dense(self.glimpse_features, name="what")(rho.reshape(rho.shape[0], -1)))
    h_l = nn.relu(nn.Dense(self.location_features, name="where")(locations))
    return nn.relu(nn.Dense(self.output_features, name="combine")(
        jnp.concatenate([h_g, h_l], axis=-1)))


class RectifierCore(nn.Module):
  """h_t = Rect(Linear(h_{t-1}) + Linear(g_t)) (sec. 4), one Dense on `[h_{t-1}, g_t]`.

  Carry is `h`; call signature `(carry, x) -> (carry, h)` like Flax RNN cells. With
  `identity_init` the block acting on h_{t-1} starts as the identity (the input block keeps its
  default init, the bias is 0), so h carries over between glimpses until training changes it
  (Le et al. 2015's IRNN; the paper does not say how the core is initialised).
  """
  features: int = 256
  identity_init: bool = False

  @nn.compact
  def __call__(self, carry: chex.Array, inputs: chex.Array):
    kernel_init = nn.initializers.lecun_normal()
    if self.identity_init:
      default, n = kernel_init, self.features

      def kernel_init(key, shape, dtype=jnp.float32):
        return default(key, shape, dtype).at[:n].set(jnp.eye(n, shape[1], dtype=dtype))
    h = nn.relu(nn.Dense(self.features, kernel_init=kernel_init, name="recurrent")(
        jnp.concatenate([carry, inputs], -1)))
    return h, h

  def initialize_carry(self, batch_size: int) -> chex.Array:
    return jnp.zeros((batch_size, self.features), jnp.float32)


class LSTMCore(nn.Module):
  """LSTM core (Hochreiter & Schmidhuber 1997), used for the Catch game (sec. 4.2).

  Gates from one Dense on `[h_{t-1}, x_t]`; forget-gate bias starts at 1. Carry is `(c, h)`.
  """
  features: int = 256

  @nn.compact
  def __call__(self, carry, inputs: chex.Array):
    c, h = carry
    n = self.features
    forget_bias_init = lambda key, shape, dtype=jnp.float32: jnp.zeros(shape, dtype).at[n:2 * n].set(1.0)
    gates = nn.Dense(4 * n, bias_init=forget_bias_init, name="gates")(
        jnp.concatenate([h, inputs], -1))
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
    h = nn.sigmoid(o) * jnp.tanh(c)
    return (c, h), h

  def initialize_carry(self, batch_size: int):
    zeros = jnp.zeros((batch_size, self.features), jnp.float32)
    return (zeros, zeros)


def make_core(kind: str, features: int, identity_init: bool = False, **kwargs) -> nn.Module:
  """'rnn' (rectifier core, sec. 4) or 'lstm'; `identity_init` applies to 'rnn' only."""
  if kind == "rnn":
    return RectifierCore(features, identity_init, **kwargs)
  if identity_init:
    raise ValueError("core_identity_init is for the rectifier core (core='rnn'), not an LSTM.")
  if kind == "lstm":
    return LSTMCore(features, **kwargs)
  raise ValueError(f"unknown core {kind!r}; use 'rnn' (rectifier, sec. 4) or 'lstm'.")


def initial_core_carry(kind: str, features: int, batch_size: int):
  """Zero state of `make_core(kind, features)`."""
  return make_core(kind, features, parent=None).initialize_carry(batch_size)


def gaussian_log_prob(x: chex.Array, mean: chex.Array, std: float) -> chex.Array:
  """log N(x; mean, std² I), summed over the last axis (the two coordinates)."""
  z = (x - mean) / std
  return jnp.sum(-0.5 * z**2 - math.log(std) - 0.5 * math.log(2 * math.pi), axis=-1)


class LocationNetwork(nn.Module):
  """f_l: Gaussian location policy with fixed std; mean = tanh(Linear(h)) (sec. 4).

  The paper's mean is `Linear(h)` (`squash=False`); by default we squash it with tanh so it stays
  in [-1, 1]: once a mean is well outside the image, every sample is clipped to the same edge, the
  reward no longer depends on it and nothing pulls the mean back (on 60×60 clutter, after 30k
  updates, about half the paper's linear means lay outside the image; README "Reproducing").
  The sample `l = mean + std·ε` is *not* clipped for the log-probability (so REINFORCE is exact
  for the Gaussian); the glimpse sensor clips it.
  """
  std: float = 0.1
  squash: bool = True

  @nn.compact
  def __call__(self, h: chex.Array, noise: chex.Array | None):
    """`h` `[B, H]`, `noise` `[B, 2]` standard normal or None (deterministic: l = mean).

    Returns `(sample, mean, log_prob)`; `sample` carries no gradient (it is an action).
    """
    mean = nn.Dense(2, name="mean")(h)
    mean = jnp.tanh(mean) if self.squash else mean
    sample = mean if noise is None else mean + self.std * noise
    sample = jax.lax.stop_gradient(sample)
    return sample, mean, gaussian_log_prob(sample, mean, self.std)


class _RAMStep(nn.Module):
  """One glimpse: sensor -> glimpse net -> core -> location policy and baseline."""
  image_hw: tuple[int, int]
  glimpse_size: int
  num_scales: int
  core: str
  hidden: int
  glimpse_features: int
  location_features: int
  glimpse_output: int
  location_std: float
  reinforce_to_core: bool
  squash_location: bool
  deterministic: bool
  core_identity_init: bool = False

  @nn.compact
  def __call__(self, carry, padded, noise):
    core_carry, location = carry
    rho = glimpse_lib.retina_from_padded(padded, location, self.image_hw, self.glimpse_size,
                                         self.num_scales)
    g = GlimpseNetwork(self.glimpse_features, self.location_features, self.glimpse_output,
                       name="glimpse_net")(rho, location)
    core_carry, h = make_core(self.core, self.hidden, self.core_identity_init,
                              name="core")(core_carry, g)
    h_stopped = jax.lax.stop_gradient(h)
    location_net = LocationNetwork(self.location_std, self.squash_location, name="location_net")
    sample, mean, log_prob = location_net(h if self.reinforce_to_core else h_stopped,
                                          None if self.deterministic else noise)
    baseline = nn.Dense(1, name="baseline")(h_stopped)[:, 0]
    out = dict(location=location, glimpse=rho, hidden=h, sample=sample, mean=mean,
               log_prob=log_prob, baseline=baseline)
    return (core_carry, jnp.clip(sample, -1.0, 1.0)), out


class RAM(nn.Module):
  """The Recurrent Attention Model for classification (sec. 4.1).

  `__call__(images, key, deterministic)` with images `[B, H, W, C]` in [0, 1] returns a dict:
    logits            [B, num_classes]   action network at the last step
    locations         [B, T, 2]          where each glimpse was taken, l_0..l_{T-1} (clipped)
    sampled_locations [B, T-1, 2]        l_1..l_{T-1} as sampled (unclipped; = means if deterministic)
    location_means    [B, T-1, 2]        the policy means that produced them
    log_probs         [B, T-1]           log π(l_t | h_t), t = 1..T-1
    baselines         [B, T-1]           b_t, t = 1..T-1
    glimpses          [B, T, K, s, s, C] what the sensor saw at each step
    hidden            [B, T, hidden]     core outputs h_1..h_T
    digit_positions   [B, T, 2]          only with `position_head`: Linear(h_t), trained to be the
                                         digit's centre in location units (not in the paper)
  The location sampled after the last glimpse is never used, so it is dropped. `key` draws l_0
  (random in both modes, as in the paper) and the policy noise; `deterministic=True` (evaluation)
  follows the means.
  """
  num_classes: int = 10
  glimpse_size: int = 8
  num_scales: int = 1
  num_glimpses: int = 6
  core: str = "rnn"
  hidden: int = 256
  glimpse_features: int = 128
  location_features: int = 128
  glimpse_output: int = 256
  location_std: float = 0.1
  reinforce_to_core: bool = False  # REINFORCE's gradient also trains the core and glimpse nets.
  squash_location: bool = True  # tanh on the location mean; False is the paper's Linear(h).
  position_head: bool = False  # Adds `digit_positions` (see the class docstring).
  unroll: int = 1  # lax.scan unroll factor (speed only).
  core_identity_init: bool = False  # RectifierCore's recurrent block starts as the identity.

  @nn.compact
  def __call__(self, images: chex.Array, key: chex.PRNGKey, deterministic: bool = False):
    chex.assert_rank(images, 4)
    image_hw = tuple(images.shape[1:3])
    glimpse_lib.check_retina_args(image_hw, self.glimpse_size, self.num_scales)
    if self.num_glimpses < 1:
      raise ValueError(f"num_glimpses must be >= 1, got {self.num_glimpses}.")
    batch = images.shape[0]
    first_key, noise_key = jax.random.split(key)
    first = jax.random.uniform(first_key, (batch, 2), minval=-1.0, maxval=1.0)
    noise = jax.random.normal(noise_key, (self.num_glimpses, batch, 2))
    padded = glimpse_lib.pad_for_retina(images.astype(jnp.float32), self.glimpse_size,
                                        self.num_scales)
    step = nn.scan(_RAMStep, variable_broadcast="params", split_rngs={"params": False},
                   in_axes=(nn.broadcast, 0), length=self.num_glimpses, unroll=self.unroll)
    step = step(image_hw, self.glimpse_size, self.num_scales, self.core, self.hidden,
                self.glimpse_features, self.location_features, self.glimpse_output,
                self.location_std, self.reinforce_to_core, self.squash_location, deterministic,
                self.core_identity_init, name="step")
    carry = (initial_core_carry(self.core, self.hidden, batch), first)
    (_, _), outs = step(carry, padded, noise)
    outs = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), outs)  # Time-major -> batch-major.
    logits = nn.Dense(self.num_classes, name="action_net")(outs["hidden"][:, -1])
    out = dict(logits=logits, locations=outs["location"],
               sampled_locations=outs["sample"][:, :-1], location_means=outs["mean"][:, :-1],
               log_probs=outs["log_prob"][:, :-1], baselines=outs["baseline"][:, :-1],
               glimpses=outs["glimpse"], hidden=outs["hidden"])
    if self.position_head:
      out["digit_positions"] = nn.Dense(2, name="position_net")(outs["hidden"])
    return out
