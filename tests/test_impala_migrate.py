"""Atari workdirs written by earlier code: their configs resume under today's fields (one place,
`s3ta_jax.impala.migrate`), and a removed research option is refused by name."""
import json

import pytest

from common.errors import UsageError
from common.workdir import guard_config
from configs import s3ta_atari
from s3ta_jax.impala import migrate


def _stored_before_the_options(config):
  """`config` as launch.atari stored it before the options added since (removed ones included)."""
  tree = json.loads(config.to_json_best_effort())
  for name in migrate.ADDED_FIELDS:
    del tree[name]
  for name in migrate.ADDED_AGENT_FIELDS:
    del tree["agent"][name]
  tree["agent"].update(center_answers=False, **migrate.REMOVED_AGENT_FIELDS)
  return tree


def test_an_old_config_resumes_under_the_values_that_give_its_behaviour(tmp_path):
  config = s3ta_atari.get_config("literal")
  config.update(optimizer="rmsprop", loss_transitions=0)  # The behaviour before both existed.
  stored = json.dumps(_stored_before_the_options(config))
  (tmp_path / "config.json").write_text(stored)
  guard_config(str(tmp_path), config, migrate.config)  # No field differs.
  (tmp_path / "config.json").write_text(stored)
  config.agent.center_answers = "running"  # A real change is still one.
  with pytest.raises(UsageError, match="agent.center_answers: 'none' -> 'running'"):
    guard_config(str(tmp_path), config, migrate.config)


def test_a_run_trained_with_a_removed_research_option_is_refused_by_name():
  tree = _stored_before_the_options(s3ta_atari.get_config())
  tree["agent"]["center_values"] = True
  with pytest.raises(UsageError, match="center_values=True.*research-options-removed.*56c43d5"):
    migrate.config(tree)
  tree["agent"].update(center_values=False, center_answers=True)
  # What True meant; the agent then refuses it, naming the note.
  assert migrate.config(tree)["agent"]["center_answers"] == "batch"


def test_the_tiny_agent_gets_no_fields_of_the_s3ta_agent():
  tree = json.loads(s3ta_atari.get_config("catch").to_json_best_effort())
  del tree["loss_transitions"]
  migrated = migrate.config(tree)
  assert migrated["agent"] == tree["agent"] and migrated["loss_transitions"] == 0


def test_fixed_query_runs_from_before_the_init_field_keep_the_init_they_trained_with():
  tree = _stored_before_the_options(s3ta_atari.get_config())
  assert migrate.config(tree)["agent"]["fixed_query_init"] == "content_bias"  # Unread by s3ta.
  tree["agent"]["kind"] = "fixed_query"
  assert migrate.config(tree)["agent"]["fixed_query_init"] == "dense"
