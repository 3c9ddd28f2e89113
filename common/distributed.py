"""Multi-process JAX from a config's `distributed` fields (`configs/distributed.py`)."""
from __future__ import annotations

import jax

from common.errors import UsageError


def init_distributed(config):
  """jax.distributed.initialize when asked; must run before anything touches a JAX device."""
  d = config.distributed
  if not d.enabled:
    return
  # CPU collectives across processes (tests, CPU clusters); GPU/TPU ignore this setting.
  jax.config.update("jax_cpu_collectives_implementation", d.cpu_collectives)
  kwargs = {}
  if d.coordinator_address:
    kwargs = dict(coordinator_address=d.coordinator_address, num_processes=d.num_processes,
                  process_id=d.process_id)
    if d.num_processes < 1 or not 0 <= d.process_id < d.num_processes:
      raise UsageError(
          f"distributed.num_processes={d.num_processes}, process_id={d.process_id}: need "
          "num_processes >= 1 and 0 <= process_id < num_processes.")
  jax.distributed.initialize(**kwargs)
