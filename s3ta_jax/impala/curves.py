"""Learning curves of `launch.atari` runs (mean return of the last 100 games, policy entropy) and
their run records, for `python -m launch.plot_atari`.

Reads `WORKDIR/metrics.jsonl` (the progress lines), so it works on a running or stopped run. A
run record holds the training command, the mean return of the last 100 games when the run first
passed each milestone, and the figure, for the Atari table of `docs/results.md`.
"""
from __future__ import annotations

import datetime
import os
import platform
import shlex

from common.errors import UsageError
from common.metrics import after_resumes, read_metrics
from common.workdir import read_json, write_json_atomic


def return_points(records: list[dict]) -> list[dict]:
  """The progress lines that carry a mean return, without those a resume redid, nor those of a
  resumed run whose window of recent games (`episodes`) is still refilling: a mean over the
  first few games after a resume says little (7 games instead of 100)."""
  kept, full = [], 0
  for r in after_resumes([r for r in records if "return_mean" in r]):
    games = r.get("episodes", full)
    if games >= full:
      kept.append(r)
      full = games
  return kept


def plot(records: list[dict], title: str, path: str) -> int:
  """Writes the PNG; returns the number of points drawn."""
  import matplotlib  # pylint: disable=g-import-not-at-top  # Only plotting needs it.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  points = return_points(records)
  if not points:
    raise UsageError("no return_mean in metrics.jsonl yet: no game has finished.")
  frames = [r["step"] / 1e6 for r in points]
  fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
  top.plot(frames, [r["return_mean"] for r in points], label="mean")
  top.plot(frames, [r["return_median"] for r in points], alpha=0.6, label="median")
  top.set_ylabel("return (last 100 games)")
  top.legend()
  top.set_title(title)
  bottom.plot(frames, [r["entropy"] for r in points], color="gray")
  bottom.set_ylabel("policy entropy (nats)")
  bottom.set_xlabel("frames (millions)")
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return len(points)


def plot_compare(runs: list[tuple[str, list[dict]]], title: str, path: str,
                 target: float | None = None, styles: list[dict] | None = None) -> None:
  """Several runs' mean-return curves on one figure; `runs` is [(label, metrics records)],
  `styles` each line's matplotlib style (color, linestyle)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(7, 4))
  for (label, records), style in zip(runs, styles or [{}] * len(runs)):
    points = return_points(records)
    ax.plot([r["step"] / 1e6 for r in points], [r["return_mean"] for r in points], label=label,
            **style)
  if target is not None:
    ax.axhline(target, color="gray", ls="--", lw=1)
  ax.set_xlabel("frames (millions)")
  ax.set_ylabel("mean return (last 100 games)")
  ax.set_title(title)
  ax.legend()
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)


MILESTONES = (250_000, 500_000, 1_000_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000)


def milestone_label(frames: int) -> str:
  return f"{frames / 1e6:g}M"  # 250_000 -> '0.25M'


def milestones(records: list[dict]) -> dict[str, float]:
  """{'1M': mean return, ...}: the first progress line at or past each milestone frame count."""
  points = return_points(records)
  out = {}
  for m in MILESTONES:
    first = next((r for r in points if r["step"] >= m), None)
    if first is not None:
      out[milestone_label(m)] = first["return_mean"]
  return out


def curve(records: list[dict], every: int = 100_000) -> list[list[float]]:
  """[[frames, mean return of the last 100 games, training seconds so far], ...]: the first log
  line at or past each multiple of `every` frames, and the last one. The seconds let runs of
  different speeds be compared at equal wall-clock."""
  seconds = dict(zip(map(id, records), elapsed_seconds(records)))
  points = return_points(records)
  point = lambda r: [int(r["step"]), float(r["return_mean"]), round(seconds[id(r)], 1)]
  out, next_mark = [], every
  for r in points:
    if r["step"] >= next_mark:
      out.append(point(r))
      next_mark = (r["step"] // every + 1) * every
  if points and (not out or out[-1][0] != points[-1]["step"]):
    out.append(point(points[-1]))
  return out


def elapsed_seconds(records: list[dict]) -> list[float]:
  """Training time up to each progress line, summed over the run's sessions: the time between
  consecutive lines, except across a resume (the step goes back, or the gap is over 10x the
  median gap and a minute: the run was not running)."""
  gaps = [(b["time"] - a["time"], b["step"] > a["step"]) for a, b in zip(records, records[1:])]
  typical = sorted(g for g, _ in gaps)[len(gaps) // 2] if gaps else 0.0
  out = [0.0] if records else []
  for g, forward in gaps:
    out.append(out[-1] + (g if forward and g <= max(60.0, 10 * typical) else 0.0))
  return out


def wall_seconds(records: list[dict]) -> float:
  """Training time summed over the run's sessions (`elapsed_seconds`)."""
  return float(elapsed_seconds(records)[-1]) if records else 0.0


def provenance(workdir: str, figure: str, docs_dir: str) -> dict:
  """What every Atari record holds besides its results: the training command (`command.json`,
  None if absent), the figure relative to `docs_dir` (where `docs/results.md` links from), the
  machine and the date."""
  launched = read_json(os.path.join(workdir, "command.json"))
  return dict(  # The argv is [python, -m, launch.X, flags...].
      command=shlex.join(["python", "-m"] + launched["command"][2:]) if launched else None,
      figures=[os.path.relpath(os.path.abspath(figure), os.path.abspath(docs_dir))],
      machine=f"{platform.machine()} {os.cpu_count()} cores",
      date=datetime.date.today().isoformat())


def record(workdir: str, records: list[dict], figure: str, title: str, docs_dir: str) -> dict:
  """The run record of a launch.atari workdir (see the module docstring); `figure` is given
  relative to `docs_dir`, where `docs/results.md` links from."""
  config = read_json(os.path.join(workdir, "config.json"))
  points = return_points(records)
  last = points[-1]
  return dict(kind="atari_run", title=title, env=config["env_name"],
              agent=config["agent"]["kind"], seed=config.get("seed"), frames=int(last["step"]),
              value=last["return_mean"], entropy=last.get("entropy"),
              value_spread=last.get("value_spread"), attention_entropy=last.get("attention_entropy"),
              milestones=milestones(records), curve=curve(records), wall_s=wall_seconds(records),
              config=config, **provenance(workdir, figure, docs_dir))


def plot_run(workdir: str, out: str = "", title: str = "", record_path: str = "") -> list[str]:
  """Draws a run's curve (default `WORKDIR/returns.png`) and, with `record_path`, writes its run
  record; returns the paths written."""
  records = read_metrics(workdir)
  if not records:
    raise UsageError(f"no metrics.jsonl in {workdir!r}; pass a launch.atari workdir.")
  out = out or os.path.join(workdir, "returns.png")
  title = title or os.path.basename(os.path.normpath(workdir))
  plot(records, title, out)
  written = [out]
  if record_path:
    docs_dir = os.path.dirname(os.path.dirname(os.path.abspath(record_path)))  # docs/run_records/X
    write_json_atomic(record_path, record(workdir, records, out, title, docs_dir))
    written.append(record_path)
  return written


def compare(runs: list[str], out: str = "", title: str = "") -> str:
  """One figure of several runs, from `LABEL=WORKDIR` items; returns its path."""
  pairs = [item.split("=", 1) for item in runs]
  if any(len(r) != 2 for r in pairs):
    raise UsageError("--compare takes LABEL=WORKDIR items, e.g. s3ta=workdirs/a,lstm=workdirs/b.")
  out = out or "compare.png"
  plot_compare([(label, read_metrics(wd)) for label, wd in pairs], title, out)
  return out
