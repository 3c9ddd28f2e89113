"""The deep residual torso of IMPALA (Espeholt et al. 2018, figure 3 right), used by S3TA's
Feedforward and LSTM baselines (Mott et al. 2019, section 4.1).

Three stacks of [conv 3x3 stride 1 -> max-pool 3x3 stride 2 -> 2 residual blocks
(relu, conv 3x3, relu, conv 3x3, + skip)], with (16, 32, 32) channels, then relu, flatten and a
256-unit fully connected layer with relu. Padding is 'SAME' throughout, so a 210x160 frame gives a
27x20x32 map before flattening (each pool halves the size, rounding up).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from s3ta_jax import matmul_conv


def resnet_feature_shape(height: int, width: int, num_stacks: int = 3) -> tuple[int, int]:
  """Spatial size after `num_stacks` stride-2 'SAME' pools: ceil(n / 2) per stack."""
  for _ in range(num_stacks):
    height, width = -(-height // 2), -(-width // 2)
  return height, width


class ResidualBlock(nn.Module):
  channels: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    y = nn.Conv(self.channels, (3, 3), padding="SAME")(nn.relu(x))
    y = nn.Conv(self.channels, (3, 3), padding="SAME")(nn.relu(y))
    return x + y


class ImpalaResNet(nn.Module):
  """[B, H, W, C] float frames -> [B, fc_features] (after relu); fc_features=0: the last map."""
  channels: Sequence[int] = (16, 32, 32)
  num_blocks: int = 2
  fc_features: int = 256

  @nn.compact
  def __call__(self, x: jax.Array, lead: tuple[int, ...] | None = None) -> jax.Array:
    """`lead` reshapes the sown intermediates' batch axis, e.g. to (T, B) in an agent unroll."""
    for i, ch in enumerate(self.channels):
      x = nn.Conv(ch, (3, 3), padding="SAME")(x)
      x = matmul_conv.max_pool(x, (3, 3), (2, 2))  # flax's max_pool; its gradient is slower.
      for _ in range(self.num_blocks):
        x = ResidualBlock(ch)(x)
      self.sow("intermediates", f"stack{i}_out",
               x if lead is None else x.reshape(lead + x.shape[1:]))
    if not self.fc_features:  # The last map, for a reader of its own (an attention core).
      return nn.relu(x)
    x = nn.relu(x).reshape(x.shape[0], -1)
    return nn.relu(nn.Dense(self.fc_features)(x))
