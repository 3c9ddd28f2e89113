"""A `launch.mnist` or `launch.catch` run read back from its config and checkpoints:

  config, params = ram_jax.workdir.load_mnist_run(workdir)

Each `restore_*` takes the run's `config.json` as a ConfigDict and any object with
`restore(like)` (the `common.checkpoint.Checkpointer` it saved with).
"""
from __future__ import annotations

import jax
from ml_collections import ConfigDict

from common.errors import UsageError
from common.workdir import load_workdir
from ram_jax import catch_agent, data, train


def is_catch_run(config) -> bool:
  return "total_frames" in config and "glimpse_size" in config


def mnist_mismatch(config) -> str | None:
  """Why `config` is not a RAM launch.mnist run's (baselines take no glimpses), or None."""
  if is_catch_run(config) or "model" not in config:
    return "is not a launch.mnist workdir (a Catch run?)."
  if config.model != "ram":
    return f"trained a {config.model!r} baseline, which takes no glimpses."
  return None


def catch_mismatch(config) -> str | None:
  """Why `config` is not a launch.catch run's, or None."""
  return None if is_catch_run(config) else "is not a launch.catch workdir."


def restore_mnist(config, checkpointer):
  """(config, params) of a RAM classification run."""
  if reason := mnist_mismatch(config):
    raise ValueError(f"config {reason}")
  model, task = train.make_model(config), train.make_task(config)
  state = checkpointer.restore(train.init_state(config, model, train.make_optimizer(config), task))
  return config, state["params"]


def restore_catch(config, checkpointer):
  """(config, params) of a `launch.catch` run."""
  if reason := catch_mismatch(config):
    raise ValueError(f"config {reason}")
  agent = catch_agent.make_agent(config)
  like = catch_agent.init_train_state(agent, catch_agent.make_optimizer(config), config.num_envs,
                                      jax.random.PRNGKey(0))
  return config, catch_agent.TrainState(*checkpointer.restore(like)).params


def load_mnist_run(workdir: str) -> tuple[ConfigDict, dict]:
  """(config, latest parameters) of a launch.mnist RAM run."""
  return load_workdir(workdir, restore_mnist, mnist_mismatch, train.migrate_config)


def load_catch_run(workdir: str) -> tuple[ConfigDict, dict]:
  """(config, latest parameters) of a launch.catch run."""
  return load_workdir(workdir, restore_catch, catch_mismatch)


def load_mnist_digits(config: ConfigDict, data_dir: str | None) -> dict:
  """The run's MNIST splits (`data.load_mnist`), from `data_dir` if given, else where it trained."""
  try:
    return data.load_mnist(data_dir or config.data_dir or None, config.num_validation)
  except (ValueError, FileNotFoundError) as e:
    raise UsageError(f"{e} (pass --data_dir if the data moved)") from None
