"""Can an agent's torso learn to report where things are on real Breakout frames? A supervised
probe, no RL: the gradient is clean, so a variant that fails here cannot learn from V-trace.

  python -m s3ta_jax.research.probe_readout
  python -m s3ta_jax.research.probe_readout --agent.vision_norm=True --agent.query_bias_std=0.5

Frames come from random play in envpool (84x84 RGB, the `:cpu` agent's input). The target is
(ball x - paddle x) / 40 in pixels, read off the frame (paddle: rows 75-77, ball: rows 40-73,
inside the 5-pixel side walls); frames without a ball in that band are left out. The agent sees
4 consecutive frames after a reset and its value head regresses the target on the last one,
with Adam and the loss summed over the batch as in the IMPALA learner. Prints R^2 of the last
100 updates every 100.

  python -m s3ta_jax.research.probe_readout --target_noise=2

adds fresh Gaussian noise of that std to each training target (R^2 still against the clean
target), a stand-in for the noise of V-trace returns: which torsos still learn when the signal
is a small part of what they are asked to fit?

For agents with attention maps it also prints, at initialisation and after training, each head's
mean weight on the cell that holds the ball, against the uniform map's weight.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags
from ml_collections import config_flags

from common.cli import run_main
from common.errors import UsageError
from s3ta_jax.agent_config import agent_config
from s3ta_jax.impala import agents, envs

_WALL = 5  # Side walls of the 84-pixel-wide Breakout frame.


def positions(frame: np.ndarray) -> tuple[float, float]:
  """(paddle x, ball x) in pixels of one 84x84 Breakout frame; NaN where absent."""
  def mean_col(band):
    cols = np.nonzero(band[:, _WALL:-_WALL].astype(int).sum((0, 2)))[0]
    return cols.mean() + _WALL if len(cols) else np.nan
  return mean_col(frame[75:78]), mean_col(frame[40:74])


def ball_cell(frame: np.ndarray, cell: int = 8) -> tuple[int, int] | None:
  """(row, col) of the feature-map cell (`cell` pixels square) holding the ball; None if absent."""
  band = frame[40:74, _WALL:-_WALL].astype(int).sum(-1)
  rows, cols = np.nonzero(band)
  if not len(rows):
    return None
  return int((rows.mean() + 40) // cell), int((cols.mean() + _WALL) // cell)


def ball_attention(agent, params, frames: np.ndarray, t: int = 4, limit: int = 256):
  """Per head, the mean attention weight on the ball's cell after `t` frames from a reset, and
  the mean map entropy; over up to `limit` sequences whose last frame shows the ball."""
  seqs = [(s, e) for s in range(frames.shape[0] - t) for e in range(frames.shape[1])]
  cells = [(s, e, c) for s, e in seqs if (c := ball_cell(frames[s + t - 1, e])) is not None]
  cells = cells[:limit]
  obs = np.stack([np.stack([frames[s + k, e] for s, e, _ in cells]) for k in range(t)])
  b = len(cells)
  out, _ = agent.unroll(params, obs, jnp.zeros((t, b), jnp.int32), jnp.zeros((t, b)),
                        jnp.zeros((t, b), bool).at[0].set(True), agent.initial_state(b))
  maps = np.asarray(out.attention[-1])  # [b, heads, h, w]
  if maps.shape[1] == 0:
    return None
  on_ball = np.stack([maps[i, :, r, c] for i, (_, _, (r, c)) in enumerate(cells)]).mean(0)
  flat = maps.reshape(b, maps.shape[1], -1)
  entropy = float(-(flat * np.log(np.maximum(flat, 1e-30))).sum(-1).mean())
  return on_ball, entropy, 1.0 / flat.shape[-1]


def collect(num_envs: int, steps: int, seed: int) -> np.ndarray:
  env = envs.make_envs("Breakout", num_envs, num_envs, 84, 84, episodic_life=True, seed=seed)
  rng, frames = np.random.default_rng(seed), []
  env.async_reset()
  try:
    for _ in range(steps):
      ts = env.recv()
      frames.append(ts.obs[np.argsort(ts.env_id)])
      env.send(rng.integers(0, env.num_actions, num_envs).astype(np.int32),
               np.arange(num_envs, dtype=np.int32))
  finally:
    env.close()
  return np.stack(frames)  # [steps, envs, 84, 84, 3]


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}")
  f = flags.FLAGS
  agent = agents.build(f.agent, 4)
  frames = collect(16, 400, f.seed)
  xy = np.array([[positions(fr) for fr in step] for step in frames])  # [steps, envs, 2]
  target = (xy[..., 1] - xy[..., 0]) / 40.0
  variance = np.nanvar(target)
  params = agent.init_params(jax.random.PRNGKey(f.seed))
  optimizer = optax.adam(f.learning_rate, b2=0.999, eps=1e-8)
  opt_state = optimizer.init(params)
  t, b = 4, f.batch_size

  def loss_fn(p, obs, y, noise, mask):
    reset = jnp.zeros((t, b), bool).at[0].set(True)
    out, _ = agent.unroll(p, obs, jnp.zeros((t, b), jnp.int32), jnp.zeros((t, b)), reset,
                          agent.initial_state(b))
    err = (out.value[-1] - y) * mask
    fit = (out.value[-1] - y - noise) * mask
    return jnp.sum(jnp.square(fit)), jnp.sum(jnp.square(err)) / jnp.sum(mask)

  @jax.jit
  def update(p, s, obs, y, noise, mask):
    (_, mse), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, obs, y, noise, mask)
    updates, s = optimizer.update(grads, s, p)
    return optax.apply_updates(p, updates), s, mse

  def report_ball(when):
    got = ball_attention(agent, params, frames)
    if got is not None:
      on_ball, entropy, uniform = got
      print(f"{when}: attention on the ball's cell per head "
            f"{', '.join(f'{w:.4f}' for w in on_ball)} (uniform {uniform:.4f}); map entropy "
            f"{entropy:.3f} (uniform {np.log(1 / uniform):.3f})", flush=True)

  report_ball("at initialisation")
  rng, errors, start = np.random.default_rng(f.seed), [], time.time()
  for i in range(1, f.steps + 1):
    at, env = rng.integers(0, len(frames) - t, b), rng.integers(0, frames.shape[1], b)
    obs = np.stack([frames[at + k, env] for k in range(t)])
    y = target[at + t - 1, env]
    noise = f.target_noise * rng.standard_normal(b)
    params, opt_state, mse = update(params, opt_state, obs, np.nan_to_num(y), noise,
                                    (~np.isnan(y)).astype(np.float32))
    errors.append(float(mse))
    if i % 100 == 0:
      print(f"[step {i}/{f.steps}] R2(last 100)={1 - np.mean(errors[-100:]) / variance:.3f} "
            f"{time.time() - start:.0f}s", flush=True)
  report_ball(f"after {f.steps} updates")


if __name__ == "__main__":
  config_flags.DEFINE_config_dict("agent", agent_config("small"),
                                  "The small agent config; set fields as --agent.kind=lstm.")
  flags.DEFINE_float("learning_rate", 5e-4, "Adam learning rate (the :cpu config's).")
  flags.DEFINE_integer("batch_size", 32, "Sequences per update.")
  flags.DEFINE_integer("steps", 400, "Updates.")
  flags.DEFINE_integer("seed", 0, "Seed.")
  flags.DEFINE_float("target_noise", 0.0, "Std of Gaussian noise added to each training target.")
  app.run(lambda argv: run_main(main, argv))
