"""The run record of a population (a `launch.pbt` workdir), for the multi-level section of
`docs/results.md`: each member's last fitness, evolved values, exploits and per-level mean
returns, the training command and the population figure (`python -m launch.plot_atari
--workdir=PBT_WORKDIR --record=...`)."""
from __future__ import annotations

import os

from common.errors import UsageError
from common.metrics import after_resumes, read_metrics
from common.workdir import read_json, write_json_atomic
from s3ta_jax.impala import curves, levels as levels_lib, pbt, pbt_figure


def is_population(workdir: str) -> bool:
  return os.path.isdir(os.path.join(workdir, "members"))


def level_returns(records: list[dict]) -> dict[str, float]:
  """The last progress line's mean return per level (`return_mean/<level>`): the games of the
  member's last fitness."""
  lines = after_resumes([r for r in records if any(k.startswith("return_mean/") for k in r)])
  return {k.split("/", 1)[1]: v for k, v in lines[-1].items()
          if k.startswith("return_mean/")} if lines else {}


def member_summary(records: list[dict], last: dict, lineage: list[dict]) -> dict:
  """A member's record entry from its progress lines and its last lineage entry."""
  returns = level_returns(records)
  return dict(member=last["member"], frames=last["frames"], fitness=last["fitness"],
              values=last["values"], returns=returns,
              capped_scores=levels_lib.capped_scores(returns),
              exploits=sum("exploited" in e for e in lineage if e["member"] == last["member"]),
              wall_s=curves.wall_seconds(records))


def record(pbt_workdir: str, figure: str, title: str, docs_dir: str) -> dict:
  """The population's record; `figure` is given relative to `docs_dir` (where results.md is)."""
  lineage = pbt.read_lineage(pbt_workdir)
  if not lineage:
    raise UsageError(f"{pbt_workdir}/{pbt.LINEAGE_FILE} is empty: no member has reported yet.")
  config = read_json(os.path.join(pbt_workdir, "config.json"))
  last = sorted(pbt.last_reports(lineage).items())
  metrics = {i: read_metrics(os.path.join(pbt_workdir, "members", str(i))) for i, _ in last}
  members = [member_summary(metrics[i], entry, lineage) for i, entry in last]
  # The population's training time: every member's progress lines in time order, without the
  # gaps where the population was not running (curves.elapsed_seconds' rule).
  times = sorted(r["time"] for records in metrics.values() for r in records)
  best = max(members, key=lambda m: m["fitness"])
  population = config["pbt"]
  return dict(kind="atari_population", title=title, levels=levels_lib.parse_levels(config["levels"]),
              agent=config["agent"]["kind"], seed=config.get("seed"),
              population=population["population"],
              burn_in_frames=population["burn_in_frames"],
              ready_frames=population["ready_frames"],
              evolving=population["burn_in_frames"] < config["total_frames"],
              frames=min(m["frames"] for m in members), value=best["fitness"],
              best_member=best["member"], members=members,
              member_wall_s=sum(m["wall_s"] for m in members),
              wall_s=curves.wall_seconds([dict(time=t, step=i) for i, t in enumerate(times)]),
              config=config, **curves.provenance(pbt_workdir, figure, docs_dir))


def plot(pbt_workdir: str, out: str = "", title: str = "", record_path: str = "") -> list[str]:
  """Draws the population figure (default `PBT_WORKDIR/population.png`) and, with
  `record_path`, writes its record; returns the paths written."""
  lineage = pbt.read_lineage(pbt_workdir)
  config = read_json(os.path.join(pbt_workdir, "config.json"))
  out = out or os.path.join(pbt_workdir, "population.png")
  pbt_figure.plot_population(lineage, list(config["pbt"]["evolved"]), out)
  written = [out]
  if record_path:
    docs_dir = os.path.dirname(os.path.dirname(os.path.abspath(record_path)))
    os.makedirs(os.path.dirname(os.path.abspath(record_path)), exist_ok=True)
    title = title or os.path.basename(os.path.normpath(pbt_workdir))
    write_json_atomic(record_path, record(pbt_workdir, out, title, docs_dir))
    written.append(record_path)
  return written
