"""The record and results.md row of a population (s3ta_jax/impala/population_record.py), from a
hand-written PBT workdir: per-level scores against a hand computation, exploits counted per
member, the best member by fitness; and when a re-run finds the population finished."""
import json
import os

import pytest

from common import run_records
from s3ta_jax.impala import pbt, population_record

LEVELS = ["Breakout", "SpaceInvaders"]


def write_jsonl(path, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def pbt_workdir(tmp_path):
  values = dict(learning_rate=6e-4, entropy_cost=0.01, eps=0.01, grad_clip=1280.0)
  lineage = [
      dict(member=0, frames=100, time=10.0, fitness=0.1, values=values, params="a"),
      dict(member=1, frames=100, time=20.0, fitness=0.3, values=values, params="b"),
      dict(member=0, frames=200, time=30.0, fitness=0.35, values=dict(values, eps=0.012),
           params="c", exploited=1, donor_params="b", donor_values=values),
      dict(member=1, frames=200, time=40.0, fitness=0.2, values=values, params="d"),
  ]
  write_jsonl(tmp_path / pbt.LINEAGE_FILE, lineage)
  # Member 0's last progress line: Breakout 16.1 -> (16.1 - 1.7) / (30.5 - 1.7) = 0.5;
  # SpaceInvaders 3189.4 -> (3189.4 - 148) / (1668.7 - 148) = 2.0, capped at 1.
  write_jsonl(tmp_path / "members/0/metrics.jsonl", [
      dict(step=100, time=5.0, **{"return_mean/Breakout": 2.0}),
      dict(step=200, time=29.0, **{"return_mean/Breakout": 16.1,
                                   "return_mean/SpaceInvaders": 3189.4}),
      dict(step=200, time=29.5, **{"pbt/fitness": 0.35}),  # The report's own line.
  ])
  write_jsonl(tmp_path / "members/1/metrics.jsonl", [
      dict(step=200, time=39.0, **{"return_mean/Breakout": 1.7,
                                   "return_mean/SpaceInvaders": 148.0})])
  config = dict(levels=",".join(LEVELS), agent=dict(kind="s3ta"), seed=0, total_frames=200,
                pbt=dict(population=2, burn_in_frames=100, ready_frames=100,
                         evolved=list(values)))
  (tmp_path / "config.json").write_text(json.dumps(config))
  (tmp_path / "command.json").write_text(json.dumps(
      {"command": ["/venv/bin/python", "-m", "launch.pbt", "--config=c.py", "--pbt=p.py"]}))
  return tmp_path


def test_the_record_scores_each_level_and_counts_each_members_exploits(pbt_workdir, tmp_path):
  docs = tmp_path / "docs"
  written = population_record.plot(str(pbt_workdir), str(docs / "figures/pop.png"), "pop",
                                    str(docs / "run_records/atari_x.json"))
  assert all(os.path.exists(p) for p in written)
  r = json.loads((docs / "run_records/atari_x.json").read_text())
  assert r["best_member"] == 0 and r["value"] == 0.35
  by_member = {m["member"]: m for m in r["members"]}
  assert by_member[0]["capped_scores"] == pytest.approx({"Breakout": 0.5, "SpaceInvaders": 1.0})
  assert by_member[1]["capped_scores"] == pytest.approx({"Breakout": 0.0, "SpaceInvaders": 0.0})
  assert (by_member[0]["exploits"], by_member[1]["exploits"]) == (1, 0)
  assert by_member[0]["values"]["eps"] == 0.012
  assert r["wall_s"] == 39.0 - 5.0  # Members' progress lines, first to last.
  assert r["command"] == "python -m launch.pbt --config=c.py --pbt=p.py"
  assert r["figures"] == ["figures/pop.png"]
  row = run_records.population_lines(str(docs / "run_records"))[-1]
  assert "| 2 x 0.00M | 0.0001M frames | 1 | 0.350 (Breakout 16.1, SpaceInvaders 3189.4) |" in row


def test_a_population_is_finished_when_every_member_reported_its_last_frames(pbt_workdir):
  lineage = pbt.read_lineage(str(pbt_workdir))
  assert pbt.finished(lineage, population=2, total_frames=200)
  assert not pbt.finished(lineage, population=2, total_frames=300)
  assert not pbt.finished(lineage, population=3, total_frames=200)  # Member 2 never reported.
  assert not pbt.finished(lineage[:3], population=2, total_frames=200)
