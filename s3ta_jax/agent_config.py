"""The Atari agent's config (`s3ta_jax.agent`): the paper's sizes (Table 3) or CPU-sized ones, the
variant (`kind`), the recipe options the configs and run records use, and its validation.

Variants (`kind`):
  s3ta         the top-down agent (section 2, section 4.1).
  fixed_query  queries are a learned [4, 72] bias, not a function of the state (section 4.1.1).
  l2_keys      no queries: head n's logits are the L2 norm of its group of Ck/N = 2 content key
               channels at each position (a soft bottom-up saliency, section 4.1.1).
  feedforward  the IMPALA deep ResNet baseline (Espeholt et al. 2018).
  lstm         that ResNet with an LSTM: the recurrent baseline (section 4.1, Table 1).

Recipe options, not in the paper (off by default; `configs/s3ta_atari.py:cpu` turns several on;
docs/notes/2026-12-0*-s3ta-*.md say why each exists and what it did): `vision_norm`,
`query_bias_std`, `core_input_norm`, `vision_lstm=False`, `conv_lstm_forget_bias`, `head_hidden=0`
and `center_answers="running"` with `answer_mean_rate`. A probe: `trunk` (which frame trunk a
kind reads: S3TA's conv stack or the baselines' ResNet). Options of the investigation that no
config or record uses left the product on 2026-12-07
(docs/notes/2026-12-07-research-options-removed.md).
"""
from __future__ import annotations

import ml_collections

from s3ta_jax import resnet as resnet_lib
from s3ta_jax import spatial_basis as basis_lib

KINDS = ("s3ta", "fixed_query", "l2_keys", "feedforward", "lstm")
ATTENTION_KINDS = ("s3ta", "fixed_query", "l2_keys")
ANSWER_CENTERING = ("none", "running")
TRUNKS = ("default", "convs", "resnet")
FIXED_QUERY_INITS = ("content_bias", "dense")
REMOVED = "docs/notes/2026-12-07-research-options-removed.md"


def agent_config(name: str = "paper") -> ml_collections.ConfigDict:
  """Network sizes: "paper" (Table 3, 210x160 RGB) or "small" (84x84 RGB, fewer channels).

  The small option keeps every layer of the architecture (and Ck = 8, Cs = 64, 4 heads, so
  queries stay 4 x 72) and only shrinks frames and widths, for quick CPU runs.
  """
  c = ml_collections.ConfigDict()
  c.kind = "s3ta"
  c.frame_height, c.frame_width = 210, 160
  c.conv_channels = (32, 64)
  c.conv_kernels = (8, 4)
  c.conv_strides = (4, 2)
  c.conv_lstm_channels = 128
  c.conv_lstm_kernel = 3
  c.key_channels = 8  # Ck; values get conv_lstm_channels - key_channels (120).
  c.basis_even = 4  # U: cos frequencies 0..U-1 (spatial_basis.py).
  c.basis_odd = 4  # V: sin frequencies 1..V. Cs = (U + V)^2 = 64.
  c.num_heads = 4
  c.query_hidden = (256, 128)  # The final layer has num_heads * (Ck + Cs) = 288 units.
  c.answer_hidden = (512, 256)
  c.core_lstm = 256
  c.head_hidden = 128  # 0: the heads read the policy LSTM directly, as in the LSTM baseline.
  # Baselines (IMPALA deep ResNet).
  c.resnet_channels = (16, 32, 32)
  c.resnet_blocks = 2
  c.resnet_fc = 256
  c.baseline_lstm = 256
  # The frame trunk, before the vision core's last layer (attention kinds) or the LSTM (baselines).
  # "default": each kind's own, Table 3's conv stack (conv_channels...) for the attention kinds,
  # IMPALA's deep ResNet (resnet_channels..., resnet_fc) for the baselines. Probes of whether
  # S3TA's per-frame gap to its baseline is its attention read-out or its trunk (issue 43,
  # docs/notes/2026-12-07-s3ta-recipe-screens.md, fifth session): "convs" gives a baseline S3TA's
  # stack and its feed-forward 3x3 layer, flattened into a resnet_fc layer; "resnet" gives an
  # attention kind the ResNet's stacks (no fc) under its vision core's last layer.
  c.trunk = "default"
  # The previous reward is an input; clip it as the paper clips rewards, so scores of 100s do not
  # saturate the answer processor.
  c.clip_prev_reward = True
  # Recipe options (module docstring). The paper says neither how keys are scaled nor how queries
  # are initialised:
  c.vision_norm = False  # LayerNorm over O_vis's channels at each cell, before the key/value split.
  c.query_bias_std = 0.0  # Std of the normal init of the query layer's bias, content part (0: zeros).
  c.core_input_norm = False  # LayerNorm on the policy LSTM's input (the answer processor's output).
  # How fixed_query's learned queries start. "content_bias": as S3TA's query bias does (content
  # channels N(0, query_bias_std), spatial channels 0), so the ablation differs from S3TA only in
  # what 4.1.1 removes. "dense": N(0, 1/(Ck+Cs)) on every channel, the init before 2026-12-07
  # (the atari_breakout_small_fixed_query.json record's run).
  c.fixed_query_init = "content_bias"
  # False: a feed-forward 3x3 conv (relu) with the same channels in place of the ConvLSTM. Section
  # 4.1 and App. A.1.1 / Table 3 give a ConvLSTM (what True builds).
  c.vision_lstm = True
  c.conv_lstm_forget_bias = 1.0  # Added to the ConvLSTM's forget gate (1: Sonnet's default).
  # What the answer processor reads of the answers: "none" (the paper), the answers as they are;
  # "running", each answer feature minus its running mean over the training batches (kept in the
  # non-trained `answer_stats` collection, moved by `answer_mean_rate` at each learner update), so
  # the part every screen shares does not swamp the part that depends on the screen
  # (docs/notes/2026-12-06-s3ta-learns-part7.md).
  c.center_answers = "none"
  c.answer_mean_rate = 0.5  # About the last two batches; at 0.01 the mean lagged (part 7 note).
  if name == "paper":
    pass
  elif name == "small":
    c.frame_height, c.frame_width = 84, 84
    c.conv_channels = (16, 32)
    c.conv_lstm_channels = 64
    c.query_hidden = (128, 64)
    c.answer_hidden = (256, 128)
    c.core_lstm = 128
    c.head_hidden = 64
    c.resnet_channels = (8, 16, 16)
    c.resnet_fc = 128
    c.baseline_lstm = 128
  else:
    raise ValueError(f"unknown agent config {name!r}; use 'paper' (Table 3) or 'small' (84x84).")
  return c


def validate_config(config) -> None:
  """Raises ValueError naming the bad field and the fix."""
  if config.kind not in KINDS:
    raise ValueError(f"agent kind {config.kind!r} is not one of {KINDS} (kinds of the research "
                     f"investigation that were removed: {REMOVED}).")
  if config.frame_height < 1 or config.frame_width < 1:
    raise ValueError(f"frame size must be positive, got {config.frame_height}x{config.frame_width}.")
  if len(config.conv_channels) != len(config.conv_kernels) or len(config.conv_channels) != len(
      config.conv_strides):
    raise ValueError("conv_channels, conv_kernels and conv_strides must have the same length; got "
                     f"{config.conv_channels}, {config.conv_kernels}, {config.conv_strides}.")
  if not 0 < config.key_channels < config.conv_lstm_channels:
    raise ValueError(f"key_channels={config.key_channels} must be in (0, conv_lstm_channels="
                     f"{config.conv_lstm_channels}); the rest of the channels are the values.")
  if config.num_heads < 1:
    raise ValueError(f"num_heads must be >= 1, got {config.num_heads}.")
  if config.center_answers not in ANSWER_CENTERING:
    raise ValueError(f"center_answers={config.center_answers!r}: use 'none' (the paper) or "
                     f"'running' (other modes were removed: {REMOVED}).")
  if config.trunk not in TRUNKS:
    raise ValueError(f"trunk={config.trunk!r}: use one of {TRUNKS}.")
  if config.fixed_query_init not in FIXED_QUERY_INITS:
    raise ValueError(f"fixed_query_init={config.fixed_query_init!r}: use one of "
                     f"{FIXED_QUERY_INITS}.")
  if config.kind == "l2_keys" and config.key_channels % config.num_heads:
    raise ValueError(f"l2_keys splits the {config.key_channels} key channels among "
                     f"{config.num_heads} heads; make key_channels a multiple of num_heads.")


def trunk(config) -> str:
  """'convs' or 'resnet': the frame trunk `config` builds (`config.trunk`, resolved by kind)."""
  if config.trunk != "default":
    return config.trunk
  return "convs" if config.kind in ATTENTION_KINDS else "resnet"


def feature_map_shape(config) -> tuple[int, int]:
  """(h, w) of the attention grid: the vision core output, or the ResNet's last map."""
  height, width = config.frame_height, config.frame_width
  if trunk(config) == "convs":
    for stride in config.conv_strides:  # 'SAME' convolutions: ceil(n / stride).
      height, width = -(-height // stride), -(-width // stride)
    return height, width
  return resnet_lib.resnet_feature_shape(height, width, len(config.resnet_channels))


def answer_size(config) -> int:
  """Length of the flattened answers the answer processor reads (all heads)."""
  cs = basis_lib.num_channels(config.basis_even, config.basis_odd)
  return config.num_heads * (config.conv_lstm_channels - config.key_channels + cs)


def query_size(config) -> int:
  """Ck + Cs, the length of each query vector (72 in the paper)."""
  return config.key_channels + basis_lib.num_channels(config.basis_even, config.basis_odd)
