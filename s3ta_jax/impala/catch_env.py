"""Catch (Mnih et al. 2014, as in bsuite) rendered as RGB frames, behind the envpool interface.

A ball falls one row per step from a random column of a 10x5 grid; the paddle on the bottom row
moves left/stay/right. Reward +1 for a catch, -1 for a miss, at the end of each 9-step episode.
A random policy scores about -0.6; an agent that tracks the ball scores 1. Pure numpy, async in
the same way as envpool (ready envs are returned in `batch_size` groups in the order they were
sent), so the actor and learner code run unchanged on it.
"""
from __future__ import annotations

import collections

import numpy as np

from s3ta_jax.impala.env_types import TimeStep

ROWS, COLS = 10, 5


class CatchEnvs:

  def __init__(self, num_envs: int, batch_size: int, img_height: int, img_width: int,
               seed: int = 0):
    if batch_size > num_envs:
      raise ValueError(f"env batch_size {batch_size} > num_envs {num_envs}")
    self.num_envs, self.batch_size = num_envs, batch_size
    self.num_actions = 3
    self.obs_shape = (img_height, img_width, 3)
    self._rng = np.random.default_rng(seed)
    self._ball_row = np.zeros(num_envs, np.int64)
    self._ball_col = np.zeros(num_envs, np.int64)
    self._paddle = np.zeros(num_envs, np.int64)
    self._done = np.zeros(num_envs, bool)
    self._ready = collections.deque()
    self._pending = {}
    # Nearest-neighbour map from pixel to grid cell.
    self._rows = (np.arange(img_height) * ROWS) // img_height
    self._cols = (np.arange(img_width) * COLS) // img_width

  def _reset(self, i):
    self._ball_row[i], self._ball_col[i] = 0, self._rng.integers(COLS)
    self._paddle[i] = COLS // 2
    self._done[i] = False

  def _render(self, ids):
    ids = np.asarray(ids)
    r, c = self._rows[None, :, None], self._cols[None, None, :]
    ball = (r == self._ball_row[ids, None, None]) & (c == self._ball_col[ids, None, None])
    paddle = (r == ROWS - 1) & (c == self._paddle[ids, None, None])
    frame = np.zeros((len(ids),) + self.obs_shape, np.uint8)
    frame[..., 0] = 255 * ball
    frame[..., 1] = 255 * paddle
    frame[..., 2] = 255 * (ball | paddle)
    return frame

  def async_reset(self):
    self._ready.clear()
    for i in range(self.num_envs):
      self._reset(i)
      self._ready.append((i, 0.0, False))

  def send(self, actions, env_id):
    for a, i in zip(np.asarray(actions), np.asarray(env_id)):
      if self._done[i]:  # As envpool: the step after a terminal one resets, ignoring the action.
        self._reset(i)
        self._ready.append((i, 0.0, False))
        continue
      self._paddle[i] = np.clip(self._paddle[i] + int(a) - 1, 0, COLS - 1)
      self._ball_row[i] += 1
      reward, done = 0.0, False
      if self._ball_row[i] == ROWS - 1:
        reward = 1.0 if self._paddle[i] == self._ball_col[i] else -1.0
        done = True
      self._done[i] = done
      self._ready.append((i, reward, done))

  def recv(self) -> TimeStep:
    if len(self._ready) < self.batch_size:
      raise RuntimeError("recv() without enough send(): fewer ready envs than batch_size")
    items = [self._ready.popleft() for _ in range(self.batch_size)]
    ids = np.array([i for i, _, _ in items], np.int32)
    reward = np.array([r for _, r, _ in items], np.float32)
    done = np.array([d for _, _, d in items], bool)
    return TimeStep(self._render(ids), reward, done, done.copy(), ids)

  def close(self):
    pass
