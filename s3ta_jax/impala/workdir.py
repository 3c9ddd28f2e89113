"""A `launch.atari` run read back from its config and checkpoints, for evaluation, diagnostics,
pictures and notebooks:

  config, agent, params, frames = s3ta_jax.impala.workdir.load("workdirs/s3ta_breakout")

or `restore(config, checkpointer)` with the run's `config.json` as a ConfigDict and the
`common.checkpoint.Checkpointer` it saved with.
"""
from __future__ import annotations

import jax

from common.workdir import load_workdir
from s3ta_jax.impala import agents, learner as learner_lib, migrate, system


def mismatch(config) -> str | None:
  """Why `config` is not a launch.atari run's, or None."""
  if "agent" not in config or "unroll_length" not in config:
    return "is not a launch.atari workdir (its config has no agent/unroll_length)."
  return None


def restore(config, checkpointer):
  """(config, agent, params, frames trained) from the checkpointer's latest checkpoint."""
  if reason := mismatch(config):
    raise ValueError(f"config {reason}")
  frame_shape = agents.frame_shape(config.agent)
  agent = agents.for_run(config, system.num_actions_of(config, frame_shape))
  state = system.restore_learner_state(checkpointer, agent.init_params(jax.random.PRNGKey(0)),
                                      learner_lib.make_optimizer(config))
  return config, agent, state["params"], int(state["frames"])


def load(workdir: str):
  """(config, agent, params, frames) of a launch.atari workdir's latest checkpoint."""
  return load_workdir(workdir, restore, mismatch, migrate.config)
