"""S3TA as a video classifier (Mott et al. 2019, section 4.2.2, appendix A.3.2, Table 7).

Per clip of F frames, processed in order (an `nn.scan` over time, as the Atari agent's unroll):

  vision core:  ResNet v2 on every frame (ResNet-34 in Table 7), then a ConvLSTM (3x3, 256)
                across the frames                                     = O_vis(t) [h, w, C]
  read (t):     keys/values of O_vis(t) with the spatial basis; queries from the logits
                accumulated up to frame t-1 (zeros at the first frame); policy MLP (1024 x 3) on
                [queries, answers] -> logits added to the running logits  (`classifier.read_step`)
  loss:         cross-entropy of the logits accumulated over all frames.

Baseline `kind="video_pool"` (no attention): the same vision core, but each frame's read is the
spatial mean of O_vis(t), and the policy MLP sees only that; logits are accumulated alike.

The ResNet has no state across frames, so it runs on all F x B frames at once; only the ConvLSTM
and the read are in the scan. Outputs are `classifier.ClassifierOutput` with one step per frame.
Not given by the paper; ours: 4 heads, Ck = 32 of the ConvLSTM's 256 channels.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from s3ta_jax import classifier as classifier_lib
from s3ta_jax import conv_lstm
from s3ta_jax import resnet_v2


def video_config(name: str = "kinetics") -> ml_collections.ConfigDict:
  """Model sizes: "kinetics" (Table 7, 32 frames of 224x224 RGB) or "small" (for a CPU)."""
  c = classifier_lib.classifier_config("imagenet")
  c.kind = "s3ta_video"
  c.num_frames = 32
  c.resnet_stages, c.resnet_block = (3, 4, 6, 3), "basic"  # ResNet-34: 7x7x512 at 224.
  c.conv_lstm_channels = 256
  c.conv_lstm_kernel = 3
  c.key_channels = 32
  c.query_hidden = (512, 256, 128)
  c.policy_hidden = (1024, 1024, 1024)
  del c.sequence_length  # One read per frame.
  if name == "kinetics":
    pass
  elif name == "small":
    c.image_size, c.image_channels = 64, 1
    c.image_mean, c.image_std = (0.0,), (1.0,)
    c.num_frames = 8
    c.resnet_stages, c.resnet_width, c.resnet_stem = (1, 1), 8, "small"  # 64 -> 32 -> 16.
    c.conv_lstm_channels = 32
    c.key_channels = 8
    c.query_hidden, c.policy_hidden = (64,), (128, 128)
  else:
    raise ValueError(f"unknown video config {name!r}; use 'kinetics' (Table 7) or 'small'.")
  return c


KINDS = ("s3ta_video", "video_pool")


def validate_config(config) -> None:
  if config.kind not in KINDS:
    raise ValueError(f"video classifier kind {config.kind!r} is not one of {KINDS}.")
  if config.num_frames < 1:
    raise ValueError(f"num_frames must be >= 1, got {config.num_frames}.")
  if not 0 < config.key_channels < config.conv_lstm_channels:
    raise ValueError(f"key_channels={config.key_channels} must be in (0, conv_lstm_channels="
                     f"{config.conv_lstm_channels}); the rest are the values.")


class VideoClassifier(nn.Module):
  config: Any  # FrozenConfigDict from `video_config`.
  num_classes: int

  def setup(self):
    c = self.config
    self.resnet = resnet_v2.ResNetV2(tuple(c.resnet_stages), c.resnet_width, c.resnet_block,
                                     c.resnet_stem)
    self.conv_lstm = conv_lstm.ConvLSTMCell(c.conv_lstm_channels, (c.conv_lstm_kernel,) * 2)
    if c.kind == "s3ta_video":
      qsize = c.key_channels + (c.basis_even + c.basis_odd) ** 2
      self.query_net = classifier_lib.MLP(tuple(c.query_hidden))
      self.query_out = nn.Dense(c.num_heads * qsize)
    self.policy_net = classifier_lib.MLP(tuple(c.policy_hidden))
    self.classes = nn.Dense(self.num_classes)

  def _frame_step(self, logits, o_vis):
    """One frame's read of the vision core's output."""
    if self.config.kind == "video_pool":
      logits = logits + self.classes(self.policy_net(o_vis.mean(axis=(1, 2))))
      return logits, (logits, jnp.zeros(o_vis.shape[:1] + (0,) + o_vis.shape[1:3]))
    keys, values = classifier_lib.keys_and_values(o_vis, self.config)
    logits, maps = classifier_lib.read_step(self, logits, keys, values)
    return logits, (logits, maps)

  def __call__(self, clips: jax.Array, train: bool = False,
               sequence_length: int | None = None) -> classifier_lib.ClassifierOutput:
    """clips [B, F, H, W, C] (uint8, or float in [0, 1]); `sequence_length`, when given (the
    image classifier's training-step interface), must be the number of frames."""
    c = self.config
    if sequence_length not in (None, c.num_frames):
      raise ValueError(f"the video classifier reads once per frame: sequence_length "
                       f"{sequence_length} != num_frames {c.num_frames}.")
    expected = (c.num_frames, c.image_size, c.image_size, c.image_channels)
    if clips.ndim != 5 or clips.shape[1:] != expected:
      raise ValueError(f"video classifier expects clips [B, {', '.join(map(str, expected))}], "
                       f"got {clips.shape}; set num_frames/image_size or the pipeline to match.")
    batch, frames = clips.shape[:2]
    x = clips.astype(jnp.float32) / 255.0 if clips.dtype == jnp.uint8 else clips
    x = (x - jnp.asarray(c.image_mean)) / jnp.asarray(c.image_std)
    features = self.resnet(x.reshape((batch * frames,) + x.shape[2:]), train)
    gates = self.conv_lstm.input_gates(features)  # The input half of the ConvLSTM, all at once.
    gates = jnp.swapaxes(gates.reshape((batch, frames) + gates.shape[1:]), 0, 1)  # [F, B, ...]
    h, w = gates.shape[2:4]
    vision = conv_lstm.ConvLSTMCell.initial_state(batch, h, w, c.conv_lstm_channels)
    _, o_vis = self.conv_lstm.unroll(vision, gates)  # All frames; the reads do not feed back.
    logits = jnp.zeros((batch, self.num_classes), jnp.float32)
    scan = nn.scan(lambda mdl, carry, x: mdl._frame_step(carry, x), variable_broadcast="params",
                   split_rngs={"params": False})
    _, (step_logits, maps) = scan(self, logits, o_vis)
    return classifier_lib.ClassifierOutput(step_logits[-1], step_logits, maps)


def make_video_classifier(config, num_classes: int) -> VideoClassifier:
  validate_config(config)
  return VideoClassifier(ml_collections.FrozenConfigDict(config), num_classes)


def init_variables(model: VideoClassifier, rng: jax.Array, batch_size: int = 1):
  c = model.config
  clips = jnp.zeros((batch_size, c.num_frames, c.image_size, c.image_size, c.image_channels),
                    jnp.uint8)
  return model.init(rng, clips, train=False)
