"""Can an agent learn to read Catch frames under an optimizer? A supervised probe, no RL.

  python -m s3ta_jax.research.probe_optimizer --agent=small --optimizer=rmsprop --learning_rate=6e-4 --eps=0.01
  python -m s3ta_jax.research.probe_optimizer --agent=small --optimizer=adam --learning_rate=1e-3 --eps=1e-8

Each example is a random Catch frame (`s3ta_jax.impala.catch_env` layout: ball, paddle on the
bottom row) shown for 3 agent steps; the label is the move that brings the paddle under the ball
(left / stay / right); the loss is cross-entropy on the last step's policy logits, summed over the
batch as in the IMPALA learner (so RMSProp's eps means what it does there). Prints the accuracy
of the last 100 steps every 100 steps. Chance is ~40% (the label "stay" is rarer).
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags

from common.cli import run_main
from common.errors import UsageError
from s3ta_jax.agent_config import agent_config
from s3ta_jax.impala import agents, catch_env, learner, tiny_agent


def make_batch(rng, batch: int, height: int, width: int):
  rows = (np.arange(height) * catch_env.ROWS) // height
  cols = (np.arange(width) * catch_env.COLS) // width
  ball_row = rng.integers(0, catch_env.ROWS - 1, batch)
  ball_col, paddle = rng.integers(0, catch_env.COLS, (2, batch))
  r, c = rows[None, :, None], cols[None, None, :]
  ball = (r == ball_row[:, None, None]) & (c == ball_col[:, None, None])
  pad = (r == catch_env.ROWS - 1) & (c == paddle[:, None, None])
  frames = np.zeros((batch, height, width, 3), np.uint8)
  frames[..., 0], frames[..., 1], frames[..., 2] = 255 * ball, 255 * pad, 255 * (ball | pad)
  return frames, (np.sign(ball_col - paddle) + 1).astype(np.int32)


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}")
  f = flags.FLAGS
  config = tiny_agent.tiny_config() if f.agent == "tiny" else agent_config(f.agent)
  agent = agents.build(config, 3)
  height, width = agent.frame_shape
  optimizer = learner.make_optimizer(ml_collections.ConfigDict(dict(
      optimizer=f.optimizer, learning_rate=f.learning_rate, eps=f.eps, decay=f.decay, momentum=0.0,
      grad_clip_mode="global_norm", grad_clip=1280.0, rmsprop_initial_scale=0.0)))
  params = agent.init_params(jax.random.PRNGKey(f.seed))
  opt_state = optimizer.init(params)
  t, b = 3, f.batch_size

  def loss_fn(p, frames, labels):
    obs = jnp.broadcast_to(frames[None], (t,) + frames.shape)
    reset = jnp.zeros((t, b), bool).at[0].set(True)
    out, _ = agent.unroll(p, obs, jnp.zeros((t, b), jnp.int32), jnp.zeros((t, b)), reset,
                          agent.initial_state(b))
    log_probs = jax.nn.log_softmax(out.logits[-1])
    loss = -jnp.sum(jnp.take_along_axis(log_probs, labels[:, None], -1))
    return loss, jnp.mean(jnp.argmax(log_probs, -1) == labels)

  @jax.jit
  def step(p, s, frames, labels):
    (_, accuracy), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, frames, labels)
    updates, s = optimizer.update(grads, s, p)
    return jax.tree.map(jnp.add, p, updates), s, accuracy

  rng, accuracies, start = np.random.default_rng(f.seed), [], time.time()
  for i in range(1, f.steps + 1):
    frames, labels = make_batch(rng, b, height, width)
    params, opt_state, accuracy = step(params, opt_state, frames, labels)
    accuracies.append(float(accuracy))
    if i % 100 == 0:
      print(f"[step {i}/{f.steps}] accuracy(last 100)={np.mean(accuracies[-100:]):.3f} "
            f"{time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
  flags.DEFINE_string("agent", "small", "Agent config: small, paper or tiny.")
  flags.DEFINE_enum("optimizer", "rmsprop", ["rmsprop", "adam"], "Optimizer.")
  flags.DEFINE_float("learning_rate", 6e-4, "Learning rate.")
  flags.DEFINE_float("eps", 0.01, "RMSProp eps (inside the sqrt) or Adam eps.")
  flags.DEFINE_float("decay", 0.99, "RMSProp decay, or Adam's second-moment beta.")
  flags.DEFINE_integer("batch_size", 32, "Examples per step.")
  flags.DEFINE_integer("steps", 600, "Updates.")
  flags.DEFINE_integer("seed", 0, "Seed.")
  app.run(lambda argv: run_main(main, argv))
