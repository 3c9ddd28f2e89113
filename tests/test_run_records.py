"""Every recorded result keeps a command that rebuilds its config (docs/run_records/*.json).

A record's command is parsed as its launcher parses it (ml_collections' config_flags, overrides
read from the command line), so a renamed or removed config field, or a changed default that a
record relied on, fails here instead of leaving a number nobody can rerun.
"""
import json
import os

from absl import flags
from ml_collections import config_flags

from common.workdir import read_json
from ram_jax import experiments
from s3ta_jax import agent_config
from s3ta_jax.impala import migrate, system

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = os.path.join(REPO, "docs", "run_records")


def _config_of_command(command: str, name: str = "config", others: tuple = ()):
  """The config a recorded `python -m launch.X --config=...` command builds, parsed as the
  launcher parses it; `name` is the config flag (`--pbt` of launch.pbt), `others` the launcher's
  other config flags."""
  words = command.split()
  flag_args = [a for a in words if a.startswith("--")]
  assert all(a.startswith(tuple(f"--{n}" for n in (name, *others))) for a in flag_args), (
      f"flags the parse would drop: {command}")
  # The config file's path is relative to the repository, wherever pytest runs.
  argv = [words[2]] + [a.replace(f"--{name}=", f"--{name}={REPO}/", 1) for a in flag_args
                       if a.startswith(f"--{name}")]
  flag_values = flags.FlagValues()
  # Overrides (`--config.field=value`) are read from `sys_argv`, not from the parsed list.
  config_flags.DEFINE_config_file(name, flag_values=flag_values, sys_argv=argv,
                                  lock_config=True)
  flag_values(argv)
  return flag_values[name].value


def _as_json(tree):
  return json.loads(json.dumps(tree))


def _records(prefix: str) -> list[tuple[str, dict]]:
  names = sorted(f for f in os.listdir(RECORDS) if f.startswith(prefix) and f.endswith(".json"))
  out = []
  for name in names:
    with open(os.path.join(RECORDS, name)) as f:
      out.append((name, json.load(f)))
  return out


def test_table_records_reproduce_from_their_commands_by_the_papers_method():
  """Every finished Table 1–2 record: its command's config trains for the images it reports (so a
  changed default cannot leave a record whose command no longer gives its number), and uses
  none of the settings results.md names as outside the paper's method."""
  checked = 0
  for e in experiments.EXPERIMENTS:
    record = read_json(os.path.join(RECORDS, f"{e.name}.json"))
    if e.launch != "launch.mnist" or not record or record["state"] != "done":
      continue
    c = _config_of_command(record["command"])
    assert c.num_train_steps * c.batch_size == record["images"], e.name
    assert (c.position_weight, c.reward, c.samples_per_image, c.squash_location) == (
        0.0, "correct", 1, True), e.name
    checked += 1
  assert checked >= 20


def _check_atari_config(name, c, trained_frames=None):
  if c.agent.kind != "tiny":
    agent_config.validate_config(c.agent)  # The agent the record's run trained still builds.
  system.check_config(c, num_processes=1, num_learner_devices_global=1)
  if trained_frames is not None:  # The record's last progress line, near where the run ended.
    per_update = c.batch_size * c.unroll_length * 4
    assert 0.95 * c.total_frames <= trained_frames < c.total_frames + per_update, name


def test_atari_records_rebuild_the_agent_they_trained_from_their_commands():
  records = [(n, r) for n, r in _records("atari_") if r["kind"] == "atari_run"]
  assert len(records) >= 5
  for name, r in records:
    c = _config_of_command(r["command"])
    assert r["command"].startswith("python -m launch.atari "), name
    assert (c.agent.kind, c.env_name, c.seed) == (r["agent"], r["env"], r["seed"]), name
    _check_atari_config(name, c, r["frames"])
    if "config" in r:  # Kept since 2026-12-07: the command must give the very config that ran.
      assert _as_json(c.to_dict()) == _as_json(migrate.config(r["config"])), name


def test_population_records_rebuild_their_members_and_population_from_their_commands():
  """A multi-level population's record (launch.pbt): its command gives the members' config and
  the population settings that ran, and each member trained the command's frames."""
  records = [(n, r) for n, r in _records("atari_") if r["kind"] == "atari_population"]
  for name, r in records:
    assert r["command"].startswith("python -m launch.pbt ") and " --pbt=" in r["command"], name
    c = _config_of_command(r["command"], "config", others=("pbt",))
    p = _config_of_command(r["command"], "pbt", others=("config",))
    _check_atari_config(name, c, r["frames"])
    recorded = dict(r["config"])
    assert _as_json(p.to_dict()) == _as_json(recorded.pop("pbt")), name
    assert _as_json(c.to_dict()) == _as_json(migrate.config(recorded)), name


def test_s3ta_records_rebuild_their_training_configs_from_their_commands():
  """The S3TA checks (pictures of Atari and Catch agents) and classifier rows keep the command
  that trained the run they measured."""
  records = [(n, r) for n, r in _records("s3ta_") if r.get("train_command")]
  assert {r["kind"] for _, r in records} == {"s3ta_check", "s3ta_classifier"}
  for name, r in records:
    c = _config_of_command(r["train_command"])
    if r["kind"] == "s3ta_check":
      assert r["train_command"].startswith("python -m launch.atari "), name
      _check_atari_config(name, c)
    else:
      assert r["train_command"].startswith("python -m launch.classify "), name
      assert c.model.kind == r["results"]["kind"], name


def test_speed_table_shows_each_agents_frames_per_second_and_shares(tmp_path):
  from common import run_records
  row = dict(case="s3ta", envpool=16000.0, actor=4000.0, learner_steps=1.5, learner=2400.0,
             pipeline=1600.0, of_envpool=0.1, gflops=float("nan"), of_peak=float("nan"))
  with open(tmp_path / "speed_atari.json", "w") as f:
    json.dump({"kind": "speed_atari", "rows": [row, dict(row, case="paper", gflops=39.0,
                                                          of_peak=0.2)],
               "matmul_peak_gflops": 195.0, "command": "python -m launch.benchmark atari",
               "machine": "x86_64 2 cores", "date": "2026-12-07"}, f)
  lines = run_records.speed_lines(str(tmp_path))
  assert "| small S3TA, ConvLSTM (`s3ta`) | 16,000 | 4,000 | 2,400 | 1,600 | 10.0% | — |" in lines
  assert "| paper-size S3TA, learner 4 x 20 on CPU (`paper`) | 16,000 | 4,000 | 2,400 | 1,600 | 10.0% | 39.0 (20%) |" in lines
  assert run_records.speed_lines(str(tmp_path / "empty")) == []
