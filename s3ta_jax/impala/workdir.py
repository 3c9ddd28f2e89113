"""A `launch.atari` workdir read back: its `config.json` and the latest checkpoint's parameters.

The one loader that evaluation, diagnostics, pictures and notebooks share:

  config, agent, params, frames = workdir.restore("workdirs/s3ta_breakout", checkpointer)

`checkpointer` is the object the run saved with (`launch.runtime.Checkpointer(workdir)`: it needs
`latest_step()` and `restore(like)`), passed in so that the library does not depend on `launch/`.
"""
from __future__ import annotations

import json
import os

import jax
import ml_collections
import numpy as np

from s3ta_jax.impala import agents, learner as learner_lib, system


def read_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found; pass the workdir of a launch.atari run.")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def restore(workdir: str, checkpointer):
  """(config, agent, params, frames trained) from the latest checkpoint of `workdir`."""
  config = read_config(workdir)
  frame_shape = agents.frame_shape(config.agent)
  agent = agents.build(config.agent, system.num_actions_of(config, frame_shape))
  params = agent.init_params(jax.random.PRNGKey(0))
  like = dict(params=params, opt_state=learner_lib.make_optimizer(config).init(params),
              frames=np.int64(0), step=np.int64(0))
  if checkpointer.latest_step() is None:
    raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints yet; train first (or wait "
                            "for the run's first save).")
  state = checkpointer.restore(like)
  return config, agent, state["params"], int(state["frames"])
