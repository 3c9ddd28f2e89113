"""The one place `launch.atari` workdirs written by earlier code are brought to today's layout.

Checkpoints: until issue 45 the optimiser state covered every collection of the agent's
variables, the running answer mean (`answer_stats`, never trained: its updates were zero)
included. It now covers only `params` (`agents.trained`); an older checkpoint restores as it was
written and its optimiser entries for `answer_stats` are dropped.
"""
from __future__ import annotations

import jax

from s3ta_jax.impala.agents import trained


def checkpoint_layouts(like: dict, optimizer) -> tuple:
  """The older layouts of a learner checkpoint shaped like `like` (params: the agent's variables,
  opt_state, frames, step), each with its conversion, for `Checkpointer.restore(older_layouts=)`."""
  if set(like["params"]) == {"params"}:  # Nothing but trained parameters: the layout never moved.
    return ()
  older = dict(like, opt_state=optimizer.init(like["params"]))

  def convert(state: dict) -> dict:
    per_collection = lambda tree: isinstance(tree, dict) and set(tree) == set(like["params"])
    opt_state = jax.tree.map(lambda tree: trained(tree) if per_collection(tree) else tree,
                             state["opt_state"], is_leaf=per_collection)
    return dict(state, opt_state=opt_state)

  return ((older, convert),)
