"""S3TA as an image classifier (Mott et al. 2019, section 4.2.1, appendix A.3.1, Table 6) and the
paper's two baselines.

`kind="s3ta"`, per image (presented `sequence_length` = T times; no motion, so the vision core
runs once):

  vision core:   ResNet v2 (no recurrent layer)                  = O_vis [h, w, C] (7x7x2048)
  split:         keys = O_vis[..., :Ck], values = O_vis[..., Ck:], the spatial basis S appended
  for t = 1..T:  queries = query MLP (1024-512-256-128, then a linear layer to N x (Ck + Cs))
                          on the accumulated logits of step t-1 (zeros at t = 1)
                 answers, maps = spatial attention (eqs. 3-5)
                 logits_t = logits_{t-1} + policy MLP (2048 x 3, relu) -> Dense(classes)
                                           on [queries, answers]
  loss:          cross-entropy of logits_T (section 4.2.1).

The paper gives neither the number of heads nor Ck for this model; `num_heads` and
`key_channels` are config fields. The policy MLP reads queries and answers, as the Atari agent's
answer processor does ("the rest of the model is identical", section 4.2.2).

Baselines (section 4.2.1):
  resnet            ResNet v2 -> global average pool -> Dense(classes); T must be 1.
  recurrent_resnet  from step 2 on, a shared 1-layer MLP maps the accumulated logits of the
                    previous step to an H x W tensor added to every channel of the (normalised)
                    image, which goes through the ResNet again; its logits are accumulated as
                    S3TA's are.

The ResNet's BatchNorm takes its statistics over the whole (global) batch: under jit with a
sharded batch XLA reduces them across devices and processes. Running averages use momentum 0.9.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from s3ta_jax import attention as attention_lib
from s3ta_jax import resnet_v2
from s3ta_jax import spatial_basis as basis_lib

KINDS = ("s3ta", "resnet", "recurrent_resnet")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def classifier_config(name: str = "imagenet") -> ml_collections.ConfigDict:
  """Model sizes: "imagenet" (Table 6, 224x224 RGB) or "small" (60x60 grey, for a CPU)."""
  c = ml_collections.ConfigDict()
  c.kind = "s3ta"
  c.image_size = 224
  c.image_channels = 3
  c.image_mean = IMAGENET_MEAN  # Per channel, on the [0, 1] scale; the pipeline sends uint8.
  c.image_std = IMAGENET_STD
  c.sequence_length = 4  # T: how many times the image is presented (1, 4 or 8 in Table 2).
  c.resnet_stages = (3, 4, 6, 3)  # ResNet-50 with bottleneck blocks.
  c.resnet_block = "bottleneck"
  c.resnet_width = 64
  c.resnet_stem = "imagenet"
  c.key_channels = 256  # Ck (not in the paper); the other 2048 - Ck channels are the values.
  c.basis_even = 4  # U and V of the spatial basis: Cs = (U + V)^2 = 64 channels.
  c.basis_odd = 4
  c.num_heads = 4  # Not in the paper.
  c.query_hidden = (1024, 512, 256, 128)
  c.policy_hidden = (2048, 2048, 2048)
  if name == "imagenet":
    pass
  elif name == "small":
    c.image_size = 60
    c.image_channels = 1
    c.image_mean, c.image_std = (0.0,), (1.0,)  # MNIST canvases are already in [0, 1].
    c.resnet_stages = (1, 1, 1)  # 60 -> stem 30 -> 30 -> 15 -> 8: an 8x8 map of 32 channels.
    c.resnet_block = "basic"
    c.resnet_width = 8
    c.resnet_stem = "small"
    c.key_channels = 8
    c.query_hidden = (128, 64)
    c.policy_hidden = (256, 256)
  else:
    raise ValueError(f"unknown classifier config {name!r}; use 'imagenet' (Table 6) or 'small'.")
  return c


def feature_map_size(config) -> int:
  return resnet_v2.output_size(config.image_size, len(config.resnet_stages), config.resnet_stem)


def feature_channels(config) -> int:
  return resnet_v2.output_channels(config.resnet_width, len(config.resnet_stages),
                                   config.resnet_block)


def validate_config(config) -> None:
  """Raises ValueError naming the bad field and the fix."""
  if config.kind not in KINDS:
    raise ValueError(f"classifier kind {config.kind!r} is not one of {KINDS}.")
  if config.sequence_length < 1:
    raise ValueError(f"sequence_length must be >= 1, got {config.sequence_length}.")
  if config.kind == "resnet" and config.sequence_length != 1:
    raise ValueError("the plain ResNet sees the image once: set sequence_length=1 (or use "
                     "kind=recurrent_resnet for the recurrent baseline).")
  if config.resnet_block not in resnet_v2.BLOCKS or config.resnet_stem not in resnet_v2.STEMS:
    raise ValueError(f"resnet_block must be one of {resnet_v2.BLOCKS} and resnet_stem one of "
                     f"{resnet_v2.STEMS}; got {config.resnet_block!r}, {config.resnet_stem!r}.")
  if not 0 < config.key_channels < feature_channels(config):
    raise ValueError(f"key_channels={config.key_channels} must be in (0, {feature_channels(config)})"
                     ", the ResNet's output channels; the rest are the values.")
  if len(config.image_mean) != config.image_channels or len(config.image_std) != config.image_channels:
    raise ValueError(f"image_mean and image_std need {config.image_channels} entries (one per "
                     "image channel).")


class ClassifierOutput(NamedTuple):
  logits: jax.Array  # [B, classes]: the accumulated logits of the last step (the prediction).
  step_logits: jax.Array  # [T, B, classes]: the accumulated logits after each step.
  attention: jax.Array  # [T, B, N, h, w]; N = 0 for the baselines.


class MLP(nn.Module):
  features: Sequence[int]

  @nn.compact
  def __call__(self, x):
    for f in self.features:
      x = nn.relu(nn.Dense(f)(x))
    return x


def keys_and_values(o_vis: jax.Array, c) -> tuple[jax.Array, jax.Array]:
  """Splits a [B, h, w, C] map at `c.key_channels` and appends the spatial basis to both."""
  batch, h, w = o_vis.shape[:3]
  basis = jnp.broadcast_to(basis_lib.spatial_basis(h, w, c.basis_even, c.basis_odd),
                           (batch, h, w, basis_lib.num_channels(c.basis_even, c.basis_odd)))
  return (jnp.concatenate([o_vis[..., :c.key_channels], basis], -1),
          jnp.concatenate([o_vis[..., c.key_channels:], basis], -1))


def read_step(model, logits: jax.Array, keys: jax.Array, values: jax.Array):
  """One S3TA read of a classifier (`model` has query_net, query_out, policy_net, classes):
  queries from the accumulated logits, attention, and the logits plus this step's. ->
  (logits [B, K], maps [B, N, h, w])."""
  batch = logits.shape[0]
  queries = model.query_out(model.query_net(logits)).reshape(batch, model.config.num_heads, -1)
  answers, maps = attention_lib.spatial_attention(queries, keys, values)
  read = jnp.concatenate([queries.reshape(batch, -1), answers.reshape(batch, -1)], -1)
  return logits + model.classes(model.policy_net(read)), maps


class Classifier(nn.Module):
  """S3TA classifier or a baseline, by `config.kind` (module docstring)."""
  config: Any  # FrozenConfigDict
  num_classes: int

  def setup(self):
    c = self.config
    self.resnet = resnet_v2.ResNetV2(tuple(c.resnet_stages), c.resnet_width, c.resnet_block,
                                     c.resnet_stem)
    if c.kind == "s3ta":
      qsize = c.key_channels + basis_lib.num_channels(c.basis_even, c.basis_odd)
      self.query_net = MLP(tuple(c.query_hidden))
      self.query_out = nn.Dense(c.num_heads * qsize)
      self.policy_net = MLP(tuple(c.policy_hidden))
    elif c.kind == "recurrent_resnet":
      self.feedback = nn.Dense(c.image_size * c.image_size)
    self.classes = nn.Dense(self.num_classes)

  def normalise(self, images: jax.Array) -> jax.Array:
    c = self.config
    x = images.astype(jnp.float32) / 255.0 if images.dtype == jnp.uint8 else images
    return (x - jnp.asarray(c.image_mean)) / jnp.asarray(c.image_std)

  def __call__(self, images: jax.Array, train: bool = False,
               sequence_length: int | None = None) -> ClassifierOutput:
    """images [B, H, W, C] (uint8, or float in [0, 1]); `sequence_length` overrides T."""
    c = self.config
    steps = sequence_length or c.sequence_length
    expected = (c.image_size, c.image_size, c.image_channels)
    if images.ndim != 4 or images.shape[1:] != expected:
      raise ValueError(f"classifier expects images [B, {', '.join(map(str, expected))}], got "
                       f"{images.shape}; set image_size/image_channels or the pipeline to match.")
    x = self.normalise(images)
    batch = x.shape[0]
    logits = jnp.zeros((batch, self.num_classes), jnp.float32)
    all_logits, all_maps = [], []
    if c.kind == "s3ta":
      o_vis = self.resnet(x, train)
      keys, values = keys_and_values(o_vis, c)
      for _ in range(steps):  # The modules are shared across steps: the same weights each time.
        logits, maps = read_step(self, logits, keys, values)
        all_logits.append(logits)
        all_maps.append(maps)
    else:
      for t in range(steps):
        image = x
        if c.kind == "recurrent_resnet" and t:  # Feedback from the previous step's logits.
          image = x + self.feedback(logits).reshape(batch, c.image_size, c.image_size, 1)
        features = jnp.mean(self.resnet(image, train), axis=(1, 2))
        logits = logits + self.classes(features)
        all_logits.append(logits)
      size = feature_map_size(c)
      all_maps = [jnp.zeros((batch, 0, size, size), jnp.float32)] * steps
    return ClassifierOutput(logits, jnp.stack(all_logits), jnp.stack(all_maps))


def make_classifier(config, num_classes: int) -> Classifier:
  validate_config(config)
  if num_classes < 2:
    raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
  return Classifier(ml_collections.FrozenConfigDict(config), num_classes)


def init_variables(model: Classifier, rng: jax.Array, batch_size: int = 2):
  """{'params', 'batch_stats'} from a zero batch."""
  c = model.config
  images = jnp.zeros((batch_size, c.image_size, c.image_size, c.image_channels), jnp.uint8)
  return model.init(rng, images, train=False)
