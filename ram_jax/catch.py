"""The game of Catch from Mnih et al. 2014, section 4.2, as pure JAX functions.

"The game is played on a 24 by 24 screen of binary pixels and involves two objects: a single pixel
that represents a ball falling from the top of the screen while bouncing off the sides of the
screen and a two-pixel paddle positioned at the bottom of the screen which the agent controls with
the aim of catching the ball. When the falling pixel reaches the bottom of the screen the agent
either gets a reward of 1 if the paddle overlaps with the ball and a reward of 0 otherwise. The
game then restarts from the beginning."

The paper leaves the details open; the rules chosen here (all tested against a plain-Python
reference in `tests/test_catch.py`):

* Coordinates: `x` is the column (0 = left), `y` the row (0 = top). The screen is `SIZE` x `SIZE`
  (24), 1.0 where the ball or paddle is and 0.0 elsewhere.
* Reset: the ball starts on the top row (`y = 0`) in a uniformly random column, with a uniformly
  random horizontal direction `dx` in {-1, +1}. The paddle covers columns `paddle_x` and
  `paddle_x + 1` of the bottom row and starts in the middle (`paddle_x = SIZE // 2 - 1`, i.e.
  columns 11 and 12), so every ball can be reached in time.
* One step (one frame): first the paddle moves by the action (0 = left, 1 = stay, 2 = right), one
  column, clamped so that both pixels stay on the screen (`0 <= paddle_x <= SIZE - 2`). Then the
  ball moves one row down and one column in direction `dx`.
* Bounce: if that horizontal move would leave the screen, the ball is reflected off the wall
  (column -1 becomes 1, column `SIZE` becomes `SIZE - 2`) and `dx` flips; so the ball touches the
  wall column on one frame and moves away from it on the next.
* Reward: when the ball arrives on the bottom row (after `SIZE - 1` = 23 steps, every game lasts
  exactly 23 steps), the step returns reward 1.0 if the ball's column is `paddle_x` or
  `paddle_x + 1` (the paddle after this step's move), else 0.0, and `done = True`. Every other
  step returns reward 0.0 and `done = False`.
* Restart: on the step that ends a game, the returned state is already a fresh game drawn with the
  step's `key` (auto-reset), and the returned screen shows that new game. So the agent never sees
  the ball on the bottom row; it acts on frames with the ball in rows 0..22.
"""
from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

SIZE = 24
NUM_ACTIONS = 3  # 0 = left, 1 = stay, 2 = right.
LEFT, STAY, RIGHT = 0, 1, 2
STEPS_PER_GAME = SIZE - 1  # The ball falls one row per step, from row 0 to row SIZE - 1.


class CatchState(NamedTuple):
  """One game (or a batch of games, with a leading batch axis on every field). All int32."""
  ball_x: chex.Array
  ball_y: chex.Array
  ball_dx: chex.Array  # -1 or +1.
  paddle_x: chex.Array  # Left pixel of the paddle; the paddle covers paddle_x, paddle_x + 1.


def reset(key: chex.PRNGKey) -> CatchState:
  """A new game: ball on the top row in a random column with a random direction; paddle centred."""
  kx, kd = jax.random.split(key)
  return CatchState(
      ball_x=jax.random.randint(kx, (), 0, SIZE, dtype=jnp.int32),
      ball_y=jnp.zeros((), jnp.int32),
      ball_dx=2 * jax.random.randint(kd, (), 0, 2, dtype=jnp.int32) - 1,
      paddle_x=jnp.asarray(SIZE // 2 - 1, jnp.int32))


def render(state: CatchState) -> chex.Array:
  """The binary screen of one game, float32 `[SIZE, SIZE]` indexed `[row, column]`."""
  rows = jnp.arange(SIZE)[:, None]
  cols = jnp.arange(SIZE)[None, :]
  ball = (rows == state.ball_y) & (cols == state.ball_x)
  paddle = (rows == SIZE - 1) & ((cols == state.paddle_x) | (cols == state.paddle_x + 1))
  return (ball | paddle).astype(jnp.float32)


def step(state: CatchState, action: chex.Array, key: chex.PRNGKey
         ) -> tuple[CatchState, chex.Array, chex.Array, chex.Array]:
  """Advances one game by one frame. Returns `(state, screen, reward, done)`.

  `action` is an int in {0: left, 1: stay, 2: right}; `key` draws the next game when this step
  ends the current one. `screen` is `render(state)` of the returned state; `reward` is float32
  (1.0 only on a catch), `done` is bool (True on the last step of a game). Use `jax.vmap` for a
  batch of games.
  """
  chex.assert_rank([state.ball_x, action], 0)
  action = jnp.asarray(action, jnp.int32)
  paddle_x = jnp.clip(state.paddle_x + action - 1, 0, SIZE - 2)
  x = state.ball_x + state.ball_dx
  # Reflect off the side walls: -1 -> 1 and SIZE -> SIZE - 2, reversing the direction.
  bounced = (x < 0) | (x > SIZE - 1)
  x = jnp.where(x < 0, -x, jnp.where(x > SIZE - 1, 2 * (SIZE - 1) - x, x))
  dx = jnp.where(bounced, -state.ball_dx, state.ball_dx)
  y = state.ball_y + 1
  done = y >= SIZE - 1
  caught = (x == paddle_x) | (x == paddle_x + 1)
  reward = (done & caught).astype(jnp.float32)
  moved = CatchState(ball_x=x, ball_y=y, ball_dx=dx, paddle_x=paddle_x)
  fresh = reset(key)
  new_state = jax.tree.map(lambda f, m: jnp.where(done, f, m), fresh, moved)
  return new_state, render(new_state), reward, done


# Batched versions: every field (and action, key) gets a leading batch axis.
batch_reset = jax.vmap(reset)
batch_step = jax.vmap(step)
batch_render = jax.vmap(render)
