"""Atari actor–learner speed: `python -m launch.benchmark atari [--cases=...] [--seconds=20]`.

For each agent, in one run (so a noisy shared machine is noisy for all of them):
  envpool   — envpool alone, async, random actions, the agent's frame size and env settings;
  actor     — the config's actor threads (env + policy inference + unroll assembly), queue drained;
  learner   — the learner alone on synthetic unrolls, updates/s and frames consumed/s;
  pipeline  — the full system (actors + learner), frames consumed by the learner per second,
              also as a fraction of envpool alone;
  GFLOP/s   — matmul and convolution FLOPs of the pipeline (learner update + the actor steps
              that produced its frames) per second, beside the machine's f32 matmul peak.
Cases: s3ta (the `:cpu` recipe, ConvLSTM), s3ta_ff (the same with a feed-forward vision layer),
lstm and feedforward (the ResNet baselines at `:cpu` settings), paper (Table 3's agent; on CPU
with a 4 x 20 learner batch, as one paper update of 32 x 50 takes ~40 s here).
"""
from __future__ import annotations

import argparse
import os
import queue
import threading
import time
from typing import Any, Callable

import jax
import numpy as np

from common.flops import flops_per_call, matmul_peak_gflops

CASES = ("s3ta", "s3ta_ff", "lstm", "feedforward", "paper")


def _parse(argv):
  p = argparse.ArgumentParser(prog="python -m launch.benchmark atari", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--cases", default=",".join(CASES), help=f"comma list of agents, from {CASES}")
  p.add_argument("--env", default="Breakout", help="Atari game")
  p.add_argument("--seconds", type=float, default=20.0,
                 help="measured seconds per phase after warm-up")
  p.add_argument("--flops", type=lambda s: s.lower() in ("true", "1", "yes"), default=True,
                 help="count the FLOPs (jaxpr) for the GFLOP/s column (--flops=False: skip)")
  p.add_argument("--record", default="",
                 help="also write the rows as a run record (docs/run_records/speed_atari.json), "
                      "from which `launch.reproduce --report_only` draws docs/results.md's table")
  args = p.parse_args(argv[1:])
  for name in args.cases.split(","):
    if name not in CASES:
      p.error(f"unknown case {name!r}; choose from {CASES}")
  return args


def case_config(get_config: Callable[[str], Any], name: str, env: str):
  """The training config a case measures, from `configs/s3ta_atari.py`'s `get_config`."""
  if name == "paper":  # Table 3's agent, ConvLSTM included.
    c = get_config("literal")
    if jax.default_backend() == "cpu":
      c.batch_size, c.unroll_length = 4, 20
  else:
    c = get_config("cpu")
    c.agent.update(dict(s3ta=dict(vision_lstm=True), s3ta_ff=dict(vision_lstm=False),
                        lstm=dict(kind="lstm"),
                        feedforward=dict(kind="feedforward")).get(name, {}))
  if name not in CASES:
    raise ValueError(f"unknown case {name!r}; use one of {CASES}.")
  c.env_name = env
  c.queue_size = 2 * c.batch_size
  return c


def bench_envpool(c, frame_shape, seconds):
  """Frames/s of envpool alone with random actions: the config's actor threads' env pools."""
  from s3ta_jax.impala import env_types, envs
  a = c.actor
  counts = [0] * a.num_actors
  start, stop = threading.Barrier(a.num_actors + 1), threading.Event()

  def run(i):
    env = envs.make_envs(c.env_name, a.num_envs, a.env_batch_size, *frame_shape,
                         episodic_life=c.episodic_life, num_threads=a.env_threads, seed=i)
    rng = np.random.default_rng(i)
    env.async_reset()
    ts = env.recv()
    start.wait()
    while not stop.is_set():
      env.send(rng.integers(0, env.num_actions, len(ts.env_id)), ts.env_id)
      ts = env.recv()
      counts[i] += len(ts.env_id)
    env.close()

  threads = [threading.Thread(target=run, args=(i,)) for i in range(a.num_actors)]
  for t in threads:
    t.start()
  start.wait()
  t0 = time.time()
  time.sleep(seconds)
  n, elapsed = sum(counts), time.time() - t0
  stop.set()
  for t in threads:
    t.join()
  return n * env_types.ACTION_REPEAT / elapsed


def bench_actors(trainer, seconds):
  """Frames/s of the config's actor threads with their queue drained."""
  stop = threading.Event()
  trainer.start_actors()

  def drain():
    while not stop.is_set():
      try:
        trainer.queue.get(timeout=0.2)
      except queue.Empty:
        pass
  threading.Thread(target=drain, daemon=True).start()
  try:
    while sum(a.env_steps for a in trainer.actors) == 0:  # Compile and first steps.
      trainer.check_actors()
      time.sleep(0.1)
    time.sleep(2.0)
    s0, t0 = sum(a.env_steps for a in trainer.actors), time.time()
    time.sleep(seconds)
    trainer.check_actors()
    return (sum(a.env_steps for a in trainer.actors) - s0) * 4 / (time.time() - t0)
  finally:
    stop.set()
    trainer.shutdown()
    trainer.actors, trainer.stop = [], threading.Event()


def synthetic_batch(trainer):
  from s3ta_jax.impala.learner import stack_trajectories
  c, agent = trainer.config, trainer.agent
  rng = np.random.default_rng(0)
  h, w = agent.frame_shape
  t1 = c.unroll_length + 1
  state = jax.tree.map(lambda x: np.asarray(x)[0], agent.initial_state(1))
  trajs = [dict(obs=rng.integers(0, 256, (t1, h, w, 3), dtype=np.uint8),
                first=rng.random(t1) < 0.01, prev_action=np.zeros(t1, np.int32),
                reward=np.zeros(t1, np.float32), action=rng.integers(0, agent.num_actions, t1),
                logits=np.zeros((t1, agent.num_actions), np.float32), init_state=state)
           for _ in range(trainer.local_batch)]
  return stack_trajectories(trajs)


def bench_learner(trainer, seconds):
  """(updates/s, the first update's seconds incl. compile): medians over `seconds`."""
  batch, init = synthetic_batch(trainer)
  times = []
  start = time.time()
  while len(times) < 3 or time.time() - start < seconds:
    t0 = time.time()
    jax.block_until_ready(trainer.update(batch, init))  # Includes the host->device copy.
    times.append(time.time() - t0)
  return 1.0 / float(np.median(times[1:])), times[0]


def bench_pipeline(trainer, seconds):
  """The training loop of `atari_loop.run` (next_batch + update), timed after 2 warm-up updates."""
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


def flops_per_frame(trainer) -> tuple[float, float]:
  """(learner, actor) matmul + convolution FLOPs per frame consumed / acted."""
  from s3ta_jax.impala.env_types import ACTION_REPEAT
  c, agent = trainer.config, trainer.agent
  batch, init = synthetic_batch(trainer)
  traj, init = trainer.learner.shard_batch(batch, init)
  loss = lambda p: trainer.learner.loss_fn(p, traj, init)[0]
  learner = flops_per_call(jax.grad(loss), trainer.params)
  b = c.actor.env_batch_size
  h, w = agent.frame_shape
  step = lambda p, s: agent.step(p, np.zeros((b, h, w, 3), np.uint8), np.zeros(b, np.int32),
                                 np.zeros(b, np.float32), np.zeros(b, bool), s)
  actor = flops_per_call(step, trainer.params, agent.initial_state(b))
  return learner / trainer.frames_per_update, actor / (b * ACTION_REPEAT)


def main(argv, get_config: Callable[[str], Any]):
  """`get_config`: `configs/s3ta_atari.py`'s, whose recipes the cases measure."""
  args = _parse(argv)
  from s3ta_jax.impala import system
  peak = matmul_peak_gflops()
  print(f"{jax.devices()[0].device_kind}: f32 matmul peak {peak:,.0f} GFLOP/s", flush=True)
  rows = []
  for name in args.cases.split(","):
    c = case_config(get_config, name, args.env)
    seconds = args.seconds
    trainer = system.Trainer(c)
    tag = (f"[{name}] {trainer.agent_config.kind} {trainer.frame_shape}, learner "
           f"{c.batch_size}x{c.unroll_length}, {c.actor.num_actors} actors x {c.actor.num_envs} "
           f"envs (batch {c.actor.env_batch_size})")
    print(tag, flush=True)
    env_fps = bench_envpool(c, trainer.frame_shape, seconds)
    actor_fps = bench_actors(trainer, seconds)
    updates, compile_s = bench_learner(trainer, seconds)
    learner_fps = updates * trainer.frames_per_update
    pipe_fps = bench_pipeline(trainer, seconds)
    learner_flops, actor_flops = flops_per_frame(trainer) if args.flops else (np.nan, np.nan)
    gflops = pipe_fps * (learner_flops + actor_flops) / 1e9
    row = dict(case=name, envpool=env_fps, actor=actor_fps, learner_steps=updates,
               learner=learner_fps, pipeline=pipe_fps, of_envpool=pipe_fps / env_fps,
               gflops=gflops, of_peak=gflops / peak, compile_s=compile_s)
    print(f"[{name}] envpool {env_fps:,.0f} | actors {actor_fps:,.0f} ({actor_fps / 4:,.0f} "
          f"agent steps/s) | learner {updates:.2f} updates/s = {learner_fps:,.0f} frames/s "
          f"(first update {compile_s:.1f}s) | pipeline {pipe_fps:,.0f} frames/s = "
          f"{pipe_fps / env_fps:.1%} of envpool | {gflops:,.1f} GFLOP/s = "
          f"{gflops / peak:.0%} of peak", flush=True)
    rows.append(row)
  base = {r["case"]: r["pipeline"] for r in rows}
  print("\n| case | envpool | actors | learner updates/s | learner | pipeline | of envpool | "
        "GFLOP/s | of peak |")
  print("|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['case']} | {r['envpool']:,.0f} | {r['actor']:,.0f} | {r['learner_steps']:.2f} | "
          f"{r['learner']:,.0f} | {r['pipeline']:,.0f} | {r['of_envpool']:.1%} | "
          f"{r['gflops']:,.1f} | {r['of_peak']:.0%} |")
  if args.record:
    write_record(args.record, rows, peak, argv)
  if "s3ta" in base and "s3ta_ff" in base:
    print(f"\nConvLSTM / feed-forward small S3TA pipeline: {base['s3ta'] / base['s3ta_ff']:.2f}x")


def write_record(path: str, rows: list[dict], peak: float, argv: list[str]):
  """The rows as a `speed_atari` run record, with the command, machine and date."""
  import datetime  # pylint: disable=g-import-not-at-top
  import platform  # pylint: disable=g-import-not-at-top
  from common.workdir import write_json_atomic  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  cpu = device.platform == "cpu"
  kind, cpuinfo = (platform.processor() or "cpu") if cpu else device.device_kind, "/proc/cpuinfo"
  if cpu and os.path.exists(cpuinfo):  # The CPU's model, where Linux names it.
    with open(cpuinfo) as f:
      names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    kind = names[0] if names else kind
  write_json_atomic(path, {
      "kind": "speed_atari", "rows": rows, "matmul_peak_gflops": peak,
      "command": " ".join(["python -m launch.benchmark atari"] + list(argv[1:])),
      "machine": f"{platform.machine()} {os.cpu_count()} cores, {device.platform} ({kind})",
      "date": datetime.date.today().isoformat()})
