"""The one place `launch.atari` workdirs written by earlier code are brought to today's layout.

Configs (`config`): fields added since a workdir was made take the value that gives the code's
behaviour before them; `agent.center_answers` was a bool (True meant the research mode "batch");
the research options removed on 2026-12-07 are dropped where they hold the value the agent now
always has, and refused otherwise (that agent can no longer be built).

Checkpoints (`checkpoint_layouts`): until issue 45 the optimiser state covered every collection
of the agent's variables, the running answer mean (`answer_stats`, never trained: its updates were
zero) included. It now covers only `params` (`agents.trained`); an older checkpoint restores as it
was written and its optimiser entries for `answer_stats` are dropped.
"""
from __future__ import annotations

import copy

import jax

from common.errors import UsageError
from s3ta_jax.agent_config import REMOVED
from s3ta_jax.impala.agents import trained

ADDED_FIELDS = {"optimizer": "rmsprop", "loss_transitions": 0, "levels": "",
                "rmsprop_initial_scale": 0.0}
# Of the S3TA library's agents (the tiny agent has none of them).
ADDED_AGENT_FIELDS = {"vision_lstm": True, "conv_lstm_forget_bias": 1.0, "center_answers": "none",
                      "answer_mean_rate": 0.5,
                      # Only fixed_query reads it; its runs before the field started "dense".
                      "fixed_query_init": "content_bias", "trunk": "default"}
REMOVED_AGENT_FIELDS = {"answer_activate_final": True, "attention_grad_scale": 1.0,
                        "center_values": False}
LAST_COMMIT_WITH_THEM = "56c43d5"


def config(stored: dict) -> dict:
  """A run config as earlier code stored it (`config.json`), with today's fields."""
  tree = copy.deepcopy(stored)
  for name, value in ADDED_FIELDS.items():
    tree.setdefault(name, value)
  agent = tree.get("agent", {})
  if agent.get("kind") == "tiny":
    return tree
  for name, value in ADDED_AGENT_FIELDS.items():
    agent.setdefault(name, value)
  if agent.get("kind") == "fixed_query" and "fixed_query_init" not in stored.get("agent", {}):
    agent["fixed_query_init"] = "dense"
  if isinstance(agent["center_answers"], bool):
    agent["center_answers"] = "batch" if agent["center_answers"] else "none"
  for name, kept in REMOVED_AGENT_FIELDS.items():
    if name in agent and agent.pop(name) != kept:
      raise UsageError(
          f"this run's agent has {name}={stored['agent'][name]!r}, a research option removed "
          f"from the agent ({REMOVED}); build it at commit {LAST_COMMIT_WITH_THEM} or earlier.")
  return tree


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
