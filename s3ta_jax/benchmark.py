"""S3TA agent benchmark: `python -m launch.benchmark s3ta [--repeats=3] [--kinds=s3ta,lstm] ...`

Prints, for the paper configuration (Table 3, 210x160 RGB), every intermediate shape and the
parameter count of each variant (abstract evaluation, no FLOPs), then times on this machine:
  actor:   one `step` at batch 32 (agent steps/s = 32 / median seconds per call);
  learner: `unroll` forward + backward of a scalar loss at T=50 (frames/s = T*B / median).
Compile times are measured separately (lower + compile); timings are medians of `--repeats`
calls after one warm-up call. By default the paper-size learner runs at B=2 instead of B=32 (a
full T=50, B=32 paper unroll is ~5 TFLOP, minutes per call on a 2-core CPU); per-frame cost is
batch-independent at these sizes, and `--paper_learner_batch=32` runs the full size.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from common.flops import describe, flops_per_call, matmul_peak_gflops
from s3ta_jax import agent as agent_lib
from s3ta_jax import agent_config

NUM_ACTIONS = 18  # Atari's full action set: the largest policy head.


def _parse(argv):
  p = argparse.ArgumentParser(prog="python -m launch.benchmark s3ta", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--sizes", default="paper,small", help="comma list of agent configs to time")
  p.add_argument("--kinds", default="s3ta",
                 help=f"comma list of agent kinds to time, from {','.join(agent_config.KINDS)}")
  p.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (median)")
  p.add_argument("--actor_batch", type=int, default=32)
  p.add_argument("--unroll_length", type=int, default=50)
  p.add_argument("--learner_batch", type=int, default=32, help="learner batch for the small size")
  p.add_argument("--paper_learner_batch", type=int, default=2,
                 help="learner batch for the paper size (32 is the paper's; slow on CPU)")
  p.add_argument("--skip_learner", action="store_true")
  args = p.parse_args(argv[1:])
  for kind in args.kinds.split(","):
    if kind not in agent_config.KINDS:
      p.error(f"unknown kind {kind!r}; choose from {agent_config.KINDS}")
  for size in args.sizes.split(","):
    if size not in ("paper", "small"):
      p.error(f"unknown size {size!r}; choose from paper, small")
  if args.repeats < 1:
    p.error("--repeats must be >= 1")
  return args


def _config(size, kind):
  c = agent_config.agent_config(size)
  c.kind = kind
  return c


def _inputs(config, t, b, seed=0):
  rng = np.random.default_rng(seed)
  obs = rng.integers(0, 256, (t, b, config.frame_height, config.frame_width, 3), dtype=np.uint8)
  act = rng.integers(0, NUM_ACTIONS, (t, b)).astype(np.int32)
  rew = rng.normal(size=(t, b)).astype(np.float32)
  reset = np.zeros((t, b), bool)
  return jax.device_put((obs, act, rew, reset))


def _time(fn, args, repeats):
  """(compile seconds, median seconds per call, FLOPs per call) for a jitted `fn`."""
  start = time.perf_counter()
  compiled = fn.lower(*args).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(*args))  # Warm-up (allocations, caches).
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
  return compile_s, statistics.median(times), flops_per_call(fn, *args)


def print_shapes_and_params():
  print("== paper configuration (Table 3): intermediate shapes of one actor step, batch 1 ==")
  for name, shape in agent_lib.intermediate_shapes(_config("paper", "s3ta"), NUM_ACTIONS):
    print(f"  {name:<22s} {shape}")
  for kind in ("feedforward", "lstm"):
    print(f"  -- {kind} baseline --")
    for name, shape in agent_lib.intermediate_shapes(_config("paper", kind), NUM_ACTIONS):
      print(f"  {name:<22s} {shape}")
  print(f"\n== parameter counts ({NUM_ACTIONS} actions) ==")
  for size in ("paper", "small"):
    for kind in agent_config.KINDS:
      config = _config(size, kind)
      agent = agent_lib.make_agent(config, NUM_ACTIONS)
      params = jax.eval_shape(
          lambda a=agent, c=config: agent_lib.init_params(a, c, jax.random.PRNGKey(0)))
      groups = ", ".join(f"{k}={agent_lib.param_count(v):,}" for k, v in params["params"].items())
      print(f"  {size:<5s} {kind:<11s} total={agent_lib.param_count(params):>10,}  ({groups})")


def time_agent(size, kind, args, peak_gflops):
  config = _config(size, kind)
  agent = agent_lib.make_agent(config, NUM_ACTIONS)
  params = jax.jit(lambda r: agent_lib.init_params(agent, config, r))(jax.random.PRNGKey(0))
  rows = []

  b = args.actor_batch
  obs, act, rew, reset = _inputs(config, 1, b)
  step = jax.jit(functools.partial(agent.apply, method="step"))
  step_args = (params, obs[0], act[0], rew[0], reset[0], agent_lib.initial_state(config, b))
  compile_s, sec, flops = _time(step, step_args, args.repeats)
  rows.append((f"actor step B={b}", compile_s, sec, b / sec, "agent steps/s"))
  print(f"  {size:<5s} {kind:<11s} {rows[-1][0]:<24s} compile {compile_s:6.1f}s  "
        f"{sec * 1e3:9.1f} ms/call  {b / sec:10,.0f} agent steps/s  "
        f"{describe(flops, sec, peak_gflops)}", flush=True)

  if not args.skip_learner:
    t = args.unroll_length
    b = args.paper_learner_batch if size == "paper" else args.learner_batch
    obs, act, rew, reset = _inputs(config, t, b)
    w = jax.random.normal(jax.random.PRNGKey(1), (t, b, NUM_ACTIONS))

    def loss(p, obs, act, rew, reset, state):
      out, _ = agent.apply(p, obs, act, rew, reset, state, method="unroll")
      return jnp.sum(out.logits * w) + jnp.sum(out.value)

    grad = jax.jit(jax.value_and_grad(loss))
    compile_s, sec, flops = _time(grad, (params, obs, act, rew, reset,
                                         agent_lib.initial_state(config, b)), args.repeats)
    rows.append((f"learner T={t} B={b} f+b", compile_s, sec, t * b / sec, "frames/s"))
    print(f"  {size:<5s} {kind:<11s} {rows[-1][0]:<24s} compile {compile_s:6.1f}s  "
          f"{sec * 1e3:9.1f} ms/call  {t * b / sec:10,.0f} frames/s  "
          f"{describe(flops, sec, peak_gflops)}", flush=True)
  return rows


def main(argv):
  args = _parse(argv)
  print(f"jax {jax.__version__} on {jax.devices()[0].device_kind} x{jax.device_count()}; "
        f"medians of {args.repeats} calls after compile + 1 warm-up\n")
  print_shapes_and_params()
  peak = matmul_peak_gflops()
  print(f"\n== speed (a 2048^2 f32 matmul runs at {peak:,.1f} GFLOP/s here; FLOPs are "
        "matmuls + convolutions of the jaxpr) ==", flush=True)
  for size in args.sizes.split(","):
    for kind in args.kinds.split(","):
      time_agent(size, kind, args, peak)
