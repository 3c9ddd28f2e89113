"""A `launch.mnist` or `launch.catch` run read back from its config and checkpoints:

  config, params = launch.runtime.load_workdir(workdir, ram_jax.workdir.restore_mnist)

Each `restore_*` takes the run's `config.json` as a ConfigDict and any object with
`restore(like)` (the `launch.runtime.Checkpointer` it saved with).
"""
from __future__ import annotations

import jax

from ram_jax import catch_agent, train


def is_catch_run(config) -> bool:
  return "total_frames" in config and "glimpse_size" in config


def restore_mnist(config, checkpointer):
  """(config, params) of a RAM classification run (not a baseline: those take no glimpses)."""
  if is_catch_run(config) or "model" not in config:
    raise ValueError("is not a launch.mnist workdir (a Catch run?).")
  if config.model != "ram":
    raise ValueError(f"trained a {config.model!r} baseline, which takes no glimpses.")
  model, task = train.make_model(config), train.make_task(config)
  state = checkpointer.restore(train.init_state(config, model, train.make_optimizer(config), task))
  return config, state["params"]


def restore_catch(config, checkpointer):
  """(config, params) of a `launch.catch` run."""
  if not is_catch_run(config):
    raise ValueError("is not a launch.catch workdir.")
  agent = catch_agent.make_agent(config)
  like = catch_agent.init_train_state(agent, catch_agent.make_optimizer(config), config.num_envs,
                                      jax.random.PRNGKey(0))
  return config, catch_agent.TrainState(*checkpointer.restore(like)).params
