"""Atari actor–learner speed: `python -m launch.benchmark atari [--agents=small,paper] [--seconds=20]`.

For each agent, in one run, frames/s (agent steps x action repeat 4) of:
  envpool   — envpool alone, async, random actions, at the agent's frame size;
  actor     — one actor thread (env + policy inference + unroll assembly), queue drained;
  learner   — learner alone on synthetic unrolls: frames consumed per second (B x T x 4 per step);
  pipeline  — the full system (actors + learner), frames consumed by the learner per second;
and pipeline / min(actor, learner), naming the bottleneck. Each phase runs `--seconds` after its
compile/warm-up; learner rates are medians of per-step times. On CPU the defaults shrink the
learner batch to 4 x 10 and phases to 10 s so both agents finish in minutes; on an accelerator
they are the paper's 32 x 50 and 20 s. Also printed: the shared-compute bound
1/(1/actor + 1/learner), the ceiling when actor and learner run on the same cores.
"""
from __future__ import annotations

import queue
import threading
import time

import jax
import numpy as np
from absl import flags

from configs.s3ta_atari import get_config
from s3ta_jax.impala import agents

_AGENTS = flags.DEFINE_list("agents", ["small", "paper"], "Agent configs to measure (tiny, small, paper).")
_ENV = flags.DEFINE_string("env", "Breakout", "Atari game.")
_SECONDS = flags.DEFINE_float("seconds", None, "Measured seconds per phase after warm-up (CPU 10, else 20).")
_BATCH = flags.DEFINE_integer("batch_size", None, "Learner batch in unrolls (CPU 4, else the paper's 32).")
_UNROLL = flags.DEFINE_integer("unroll", None, "Unroll length (CPU 10, else the paper's 50).")
_NUM_ENVS = flags.DEFINE_integer("num_envs", 16, "Envs per actor.")
_ENV_BATCH = flags.DEFINE_integer("env_batch_size", 8, "envpool batch (async when < num_envs).")
_ACTORS = flags.DEFINE_integer("num_actors", 1, "Actor threads in the pipeline phase.")


def _on_cpu() -> bool:
  return jax.default_backend() == "cpu"


def _config(agent_name):
  c = get_config()
  c.env_name, c.agent = _ENV.value, agents.agent_config(agent_name)
  c.batch_size = _BATCH.value or (4 if _on_cpu() else 32)
  c.unroll_length = _UNROLL.value or (10 if _on_cpu() else 50)
  c.actor.num_envs, c.actor.env_batch_size = _NUM_ENVS.value, _ENV_BATCH.value
  c.actor.num_actors = _ACTORS.value
  c.queue_size = 2 * c.batch_size
  return c


def bench_envpool(c, frame_shape, seconds):
  from s3ta_jax.impala import env_types, envs
  env = envs.make_envs(c.env_name, c.actor.num_envs, c.actor.env_batch_size, *frame_shape)
  env.async_reset()
  rng = np.random.default_rng(0)
  steps, start = 0, None
  while True:
    ts = env.recv()
    env.send(rng.integers(0, env.num_actions, len(ts.env_id)), ts.env_id)
    if start is None:
      start = time.time()
      continue
    steps += len(ts.env_id)
    if time.time() - start > seconds:
      break
  env.close()
  return steps * env_types.ACTION_REPEAT / (time.time() - start)


def bench_actor(trainer, seconds):
  from s3ta_jax.impala.actor import Actor
  from s3ta_jax.impala.system import env_factory
  stop = threading.Event()
  q = queue.Queue(maxsize=4)
  actor = Actor(0, trainer.agent, env_factory(trainer.config, trainer.frame_shape, 0),
                trainer.param_store, q, trainer.config.unroll_length, jax.local_devices()[0], 0,
                stop, trainer.episodes).start()

  def drain():
    while not stop.is_set():
      try:
        q.get(timeout=0.2)
      except queue.Empty:
        pass
  threading.Thread(target=drain, daemon=True).start()
  while actor.env_steps == 0 and actor.error is None:  # Compile and first steps.
    time.sleep(0.1)
  time.sleep(1.0)
  s0, t0 = actor.env_steps, time.time()
  time.sleep(seconds)
  rate = (actor.env_steps - s0) * 4 / (time.time() - t0)
  stop.set()
  actor.thread.join(timeout=30)
  if actor.error is not None:
    raise actor.error
  return rate


def bench_learner(trainer, seconds):
  from s3ta_jax.impala.learner import stack_trajectories
  c, agent = trainer.config, trainer.agent
  rng = np.random.default_rng(0)
  h, w = agent.frame_shape
  t1 = c.unroll_length + 1
  trajs = [dict(obs=rng.integers(0, 256, (t1, h, w, 3), dtype=np.uint8),
                first=rng.random(t1) < 0.01, prev_action=np.zeros(t1, np.int32),
                reward=np.zeros(t1, np.float32), action=rng.integers(0, agent.num_actions, t1),
                logits=np.zeros((t1, agent.num_actions), np.float32),
                init_state=jax.tree.map(np.asarray, agent.initial_state(1)))
           for _ in range(trainer.local_batch)]
  for t in trajs:
    t["init_state"] = jax.tree.map(lambda x: x[0], t["init_state"])
  batch, init = stack_trajectories(trajs)
  times = []
  start = time.time()
  while len(times) < 2 or time.time() - start < seconds:
    t0 = time.time()
    metrics = trainer.update(batch, init)  # Includes the host->device batch copy, as in training.
    jax.block_until_ready(metrics)
    times.append(time.time() - t0)
  return trainer.frames_per_update / float(np.median(times[1:])), times[0]


def bench_pipeline(trainer, seconds):
  """The training loop of `Trainer.run` (next_batch + update), timed after 2 warm-up updates."""
  trainer.start_actors()
  try:
    for _ in range(2):
      trainer.update(*trainer.next_batch())
    jax.block_until_ready(trainer.params)
    f0, t0 = trainer.frames, time.time()
    while time.time() - t0 < seconds:
      trainer.update(*trainer.next_batch())
    jax.block_until_ready(trainer.params)
    return (trainer.frames - f0) / (time.time() - t0)
  finally:
    trainer.shutdown()


def main(argv):
  flags.FLAGS(argv, known_only=True)
  from s3ta_jax.impala import system
  rows = []
  for name in _AGENTS.value:
    c = _config(name)
    trainer = system.Trainer(c)
    print(f"[{name}] {c.env_name} frames {trainer.frame_shape}, learner batch {c.batch_size}x"
          f"{c.unroll_length}, {c.actor.num_envs} envs (batch {c.actor.env_batch_size}), "
          f"devices {jax.devices()}", flush=True)
    seconds = _SECONDS.value or (10.0 if _on_cpu() else 20.0)
    env_fps = bench_envpool(c, trainer.frame_shape, seconds)
    print(f"[{name}] envpool alone      {env_fps:10,.0f} frames/s", flush=True)
    actor_fps = bench_actor(trainer, seconds)
    print(f"[{name}] actor (env+policy) {actor_fps:10,.0f} frames/s", flush=True)
    learner_fps, compile_s = bench_learner(trainer, seconds)
    print(f"[{name}] learner alone      {learner_fps:10,.0f} frames/s consumed "
          f"(first step incl. compile {compile_s:.1f}s)", flush=True)
    pipe_fps = bench_pipeline(trainer, seconds)
    bound = min(actor_fps, learner_fps)
    # When actor and learner share the same cores (CPU, one GPU), they split the compute:
    # the best the pipeline can do is then 1 / (1/actor + 1/learner).
    shared = 1.0 / (1.0 / actor_fps + 1.0 / learner_fps)
    side = "learner" if learner_fps < actor_fps else "actor"
    print(f"[{name}] full pipeline      {pipe_fps:10,.0f} frames/s = {pipe_fps / bound:.0%} of "
          f"min(actor, learner), {pipe_fps / shared:.0%} of the shared-compute bound "
          f"{shared:,.0f}; bottleneck: {side}", flush=True)
    rows.append((name, env_fps, actor_fps, learner_fps, pipe_fps, pipe_fps / bound,
                 pipe_fps / shared, side))
  print("\n| agent | envpool | actor | learner | pipeline | pipeline/min | pipeline/shared | "
        "bottleneck |")
  print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r[0]} | {r[1]:,.0f} | {r[2]:,.0f} | {r[3]:,.0f} | {r[4]:,.0f} | {r[5]:.0%} | "
          f"{r[6]:.0%} | {r[7]} |")
