"""How far a benchmark figure is from the machine's limit: achieved GFLOP/s beside a matmul peak.

FLOPs are counted from the function's jaxpr: 2 x multiply-adds of every matmul and convolution
(elementwise work is left out; these models are dominated by the two), with scan bodies counted
once per iteration. XLA's own cost analysis counts a loop body once whatever its trip count, so
it undercounts the unrolls. The peak is a large f32 matmul measured on the same device in the
same run (so a noisy, shared machine is noisy in both).
"""
from __future__ import annotations

import math
import statistics
import time

import jax
import jax.numpy as jnp
from jax.extend import core as jex_core


def _eqn_flops(eqn) -> float:
  name = eqn.primitive.name
  if name == "dot_general":
    (lhs_contract, _), _ = eqn.params["dimension_numbers"]
    lhs = eqn.invars[0].aval.shape
    out = eqn.outvars[0].aval.shape
    return 2.0 * math.prod(out) * math.prod(lhs[d] for d in lhs_contract)
  if name == "conv_general_dilated":
    rhs = eqn.invars[1].aval.shape
    out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
    # Each output element sums over (input features / groups) x kernel window.
    return 2.0 * math.prod(eqn.outvars[0].aval.shape) * math.prod(rhs) / out_features
  if name == "scan":
    return eqn.params["length"] * jaxpr_flops(eqn.params["jaxpr"].jaxpr)
  if name == "cond":
    return max(jaxpr_flops(b.jaxpr) for b in eqn.params["branches"])
  return sum(jaxpr_flops(sub) for sub in _sub_jaxprs(eqn.params))


def _sub_jaxprs(params):
  for value in params.values():
    for v in value if isinstance(value, (list, tuple)) else [value]:
      if isinstance(v, jex_core.ClosedJaxpr):
        yield v.jaxpr
      elif isinstance(v, jex_core.Jaxpr):
        yield v


def jaxpr_flops(jaxpr) -> float:
  return sum(_eqn_flops(eqn) for eqn in jaxpr.eqns)


def flops_per_call(fn, *args) -> float:
  """Matmul + convolution FLOPs of one call of `fn(*args)` (see the module docstring)."""
  return jaxpr_flops(jax.make_jaxpr(fn)(*args).jaxpr)


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
  """Median GFLOP/s of an n x n f32 matmul on the default device (2 n^3 FLOPs per call)."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  matmul = jax.jit(lambda x: x @ x).lower(a).compile()
  jax.block_until_ready(matmul(a))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(matmul(a))
    times.append(time.perf_counter() - start)
  return 2 * n ** 3 / statistics.median(times) / 1e9


def describe(flops_per_call: float, seconds_per_call: float, peak_gflops: float) -> str:
  """'12.3 GFLOP/s (19% of the 64 GFLOP/s matmul peak)'."""
  achieved = flops_per_call / seconds_per_call / 1e9
  return f"{achieved:,.1f} GFLOP/s ({achieved / peak_gflops:.0%} of the {peak_gflops:,.0f} GFLOP/s matmul peak)"
