"""RAM training speed: `python -m launch.benchmark ram [--repeats=5 --steps=100 --unroll=1]`.

Times the full jitted training step of `ram_jax.train` (on-device task generation, forward,
REINFORCE + cross-entropy backward, SGD update) on all local devices, for
  (a) 28×28 MNIST, 8×8 glimpses, 1 scale, 6 glimpses, batch 128;
  (b) 60×60 cluttered MNIST (4 pieces), 12×12 glimpses, 3 scales, 8 glimpses, batch 128;
  (c) 100×100 cluttered MNIST (8 pieces), 12×12 glimpses, 4 scales, 8 glimpses, batch 128.
Prints compile time and training images/s: the median of `--repeats` timed runs of `--steps`
steps each, after a warm-up, with the min–max range (the spread says how noisy the machine was),
and images per CPU-second of this process (less sensitive to other processes on a shared machine).
Digits are random bytes: speed does not depend on their content.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import numpy as np
from ml_collections import ConfigDict

from common.flops import describe, flops_per_call, matmul_peak_gflops
from ram_jax import train

CASES = {
    "a": dict(task="centered", canvas=28, num_clutter=0, glimpse_size=8, num_scales=1, num_glimpses=6),
    "b": dict(task="cluttered", canvas=60, num_clutter=4, glimpse_size=12, num_scales=3,
              num_glimpses=8),
    "c": dict(task="cluttered", canvas=100, num_clutter=8, glimpse_size=12, num_scales=4,
              num_glimpses=8),
}
# images/s targets on a 2-core CPU; (c): the 100x100 8-glimpse Table 2b run's logged rate when
# it had the CPU to itself (5.2k at the 90th percentile of its progress lines).
TARGETS = {"a": 16_000, "b": 7_000, "c": 5_000}


def bench_case(base_config: ConfigDict, name: str, batch_size: int, steps: int, repeats: int,
               unroll: int) -> dict:
  config = base_config.copy_and_resolve_references()
  config.update(CASES[name])
  config.batch_size = batch_size
  config.unroll = unroll
  mesh = train.make_mesh()
  model, optimizer, task = train.make_model(config), train.make_optimizer(config), train.make_task(config)
  state = train.replicate(train.init_state(config, model, optimizer, task), mesh)
  rng = np.random.default_rng(0)
  arrays = train.replicate((rng.integers(0, 256, (50_000, 28, 28), dtype=np.uint8),
                            rng.integers(0, 10, 50_000).astype(np.int32)), mesh)
  step = train.make_train_step(model, optimizer, task, config, mesh)
  start = time.perf_counter()
  compiled = step.lower(state, *arrays).compile()
  compile_s = time.perf_counter() - start
  for _ in range(max(steps // 4, 5)):  # Warm-up.
    state, metrics = compiled(state, *arrays)
  jax.block_until_ready(state)
  rates, cpu_rates = [], []
  for _ in range(repeats):
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
      state, metrics = compiled(state, *arrays)
    jax.block_until_ready((state, metrics))
    rates.append(steps * batch_size / (time.perf_counter() - start))
    cpu_rates.append(steps * batch_size / (time.process_time() - cpu_start))
  return dict(case=name, compile_s=compile_s, median=statistics.median(rates), low=min(rates),
              high=max(rates), per_cpu_s=statistics.median(cpu_rates),
              flops_per_step=flops_per_call(step, state, *arrays))


def main(argv, base_config: ConfigDict):
  """`base_config`: the RAM defaults (`configs/mnist_base.py`), which each case overrides."""
  parser = argparse.ArgumentParser(prog="python -m launch.benchmark ram", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--cases", default="a,b,c", help="comma-separated subset of a,b,c")
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=100, help="steps per timed run")
  parser.add_argument("--repeats", type=int, default=5, help="timed runs (median reported)")
  parser.add_argument("--unroll", type=int, default=1, help="lax.scan unroll of the glimpse loop")
  args = parser.parse_args(argv[1:])
  cases = [c for c in args.cases.split(",") if c]
  unknown = [c for c in cases if c not in CASES]
  if unknown:
    parser.error(f"unknown case(s) {unknown}; use a subset of {','.join(CASES)}")
  print(f"RAM training step, batch {args.batch_size}, {jax.local_device_count()} "
        f"{jax.default_backend()} device(s), {args.repeats} runs x {args.steps} steps", flush=True)
  peak = matmul_peak_gflops()
  for name in cases:
    r = bench_case(base_config, name, args.batch_size, args.steps, args.repeats, args.unroll)
    c = CASES[name]
    print(f"({name}) {c['canvas']}x{c['canvas']} {c['task']}, {c['glimpse_size']}x{c['glimpse_size']} "
          f"x{c['num_scales']} scales, {c['num_glimpses']} glimpses: compile {r['compile_s']:.1f}s, "
          f"{r['median']:,.0f} images/s median (range {r['low']:,.0f}-{r['high']:,.0f}; target "
          f"{TARGETS[name]:,}: {r['median'] / TARGETS[name]:.2f}x); "
          f"{r['per_cpu_s']:,.0f} images per CPU-second of this process; "
          f"{describe(r['flops_per_step'], args.batch_size / r['median'], peak)}",
          flush=True)
  load, cores = os.getloadavg()[0], os.cpu_count()
  # The benchmark itself keeps up to `cores` busy; more than that is other work competing.
  note = (": other processes shared the CPU, so images/s is lower than on a quiet machine"
          if load > cores else "")
  print(f"load average now {load:.1f} on {cores} cores{note}.")
