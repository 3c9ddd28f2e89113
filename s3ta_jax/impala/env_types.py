"""What every batched environment returns (a leaf module, so env implementations share it without
importing each other). Semantics are in `envs.py`'s docstring."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

ACTION_REPEAT = 4  # S3TA App. A.1.1: each action is sent 4 times, the agent sees every 4th frame.


class TimeStep(NamedTuple):
  obs: np.ndarray        # [b, H, W, 3] uint8
  reward: np.ndarray     # [b] float32, unclipped
  done: np.ndarray       # [b] bool: terminal for learning (life loss too with episodic life)
  game_over: np.ndarray  # [b] bool: the real game ended (for episode statistics)
  env_id: np.ndarray     # [b] int32
