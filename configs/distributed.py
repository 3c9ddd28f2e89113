"""`config.distributed`, shared by the multi-process launchers
(`common.distributed.init_distributed`, WORKSPACE.md)."""
from ml_collections import ConfigDict


def distributed_config() -> ConfigDict:
  return ConfigDict(dict(
      enabled=False,              # Call jax.distributed.initialize (multi-host / multi-process).
      coordinator_address="",     # host:port; empty = auto-detected on TPU pods / SLURM.
      num_processes=0,
      process_id=-1,
      cpu_collectives="gloo",     # Cross-process collectives on CPU devices.
  ))
