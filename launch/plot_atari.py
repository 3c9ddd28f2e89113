"""Learning curve of a `launch.atari` run: mean return of the last 100 games and policy entropy.

  python -m launch.plot_atari --workdir=workdirs/s3ta_breakout_cpu --out=docs/figures/impala/x.png \
      [--record=docs/run_records/atari_NAME.json]
  python -m launch.plot_atari --compare=s3ta=workdirs/a,lstm=workdirs/b --out=docs/figures/x.png

Reads `WORKDIR/metrics.jsonl` (the progress lines), so it works on a running or stopped run.
`--record` also writes a run record (the training command, the mean return of the last 100 games
when the run first passed each milestone, the figure) for the Atari table of `docs/results.md`.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import shlex

from absl import app, flags

from common.cli import run_main
from common.errors import UsageError
from common.metrics import after_resumes, read_metrics
from common.workdir import write_json_atomic


def return_points(records: list[dict]) -> list[dict]:
  """The progress lines that carry a mean return, without those a resume redid."""
  return after_resumes([r for r in records if "return_mean" in r])


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
                 target: float | None = None) -> None:
  """Several runs' mean-return curves on one figure; `runs` is [(label, metrics records)]."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(7, 4))
  for label, records in runs:
    points = return_points(records)
    ax.plot([r["step"] / 1e6 for r in points], [r["return_mean"] for r in points], label=label)
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
  """[[frames, mean return of the last 100 games], ...]: the first log line at or past each
  multiple of `every` frames, and the last one."""
  points = return_points(records)
  out, next_mark = [], every
  for r in points:
    if r["step"] >= next_mark:
      out.append([int(r["step"]), float(r["return_mean"])])
      next_mark = (r["step"] // every + 1) * every
  if points and (not out or out[-1][0] != points[-1]["step"]):
    out.append([int(points[-1]["step"]), float(points[-1]["return_mean"])])
  return out


def wall_seconds(records: list[dict]) -> float:
  """Training time summed over the run's sessions: the time between consecutive progress lines,
  except across a resume (the step goes back, or the gap is over 10x the median gap and a
  minute: the run was not running)."""
  gaps = [(b["time"] - a["time"], b["step"] > a["step"]) for a, b in zip(records, records[1:])]
  if not gaps:
    return 0.0
  typical = sorted(g for g, _ in gaps)[len(gaps) // 2]
  return float(sum(g for g, forward in gaps if forward and g <= max(60.0, 10 * typical)))


def record(workdir: str, records: list[dict], figure: str, title: str, docs_dir: str) -> dict:
  """The run record of a launch.atari workdir (see the module docstring); `figure` is given
  relative to `docs_dir`, where `docs/results.md` links from."""
  with open(os.path.join(workdir, "config.json")) as f:
    config = json.load(f)
  command = os.path.join(workdir, "command.json")
  train_command = None
  if os.path.exists(command):
    with open(command) as f:
      argv = json.load(f)["command"]
    train_command = shlex.join(["python", "-m"] + argv[2:])  # [python, -m, launch.atari, flags...]
  points = return_points(records)
  last = points[-1]
  return dict(kind="atari_run", title=title, env=config["env_name"],
              agent=config["agent"]["kind"], seed=config.get("seed"), frames=int(last["step"]),
              value=last["return_mean"], entropy=last.get("entropy"),
              value_spread=last.get("value_spread"), attention_entropy=last.get("attention_entropy"),
              milestones=milestones(records), curve=curve(records), wall_s=wall_seconds(records),
              command=train_command,
              figures=[os.path.relpath(os.path.abspath(figure), os.path.abspath(docs_dir))],
              machine=f"{platform.machine()} {os.cpu_count()} cores",
              date=datetime.date.today().isoformat())


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}")
  f = flags.FLAGS
  if f.compare:  # label=workdir,...: one figure of several runs.
    runs = [item.split("=", 1) for item in f.compare]
    if any(len(r) != 2 for r in runs):
      raise UsageError("--compare takes LABEL=WORKDIR items, e.g. s3ta=workdirs/a,lstm=workdirs/b.")
    out = f.out or "compare.png"
    plot_compare([(label, read_metrics(wd)) for label, wd in runs], f.title or "", out)
    print(f"wrote {out}")
    return
  if not f.workdir:
    raise UsageError("pass --workdir=DIR (or --compare=LABEL=DIR,...).")
  records = read_metrics(f.workdir)
  if not records:
    raise UsageError(f"no metrics.jsonl in {f.workdir!r}; pass a launch.atari workdir.")
  out = f.out or os.path.join(f.workdir, "returns.png")
  title = f.title or os.path.basename(os.path.normpath(f.workdir))
  n = plot(records, title, out)
  print(f"wrote {out} ({n} points)")
  if f.record:
    docs_dir = os.path.dirname(os.path.dirname(os.path.abspath(f.record)))  # docs/run_records/X
    write_json_atomic(f.record, record(f.workdir, records, out, title, docs_dir))
    print(f"wrote {f.record}")


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "A launch.atari workdir.")
  flags.DEFINE_list("compare", [], "LABEL=WORKDIR items: draw these runs' returns on one figure.")
  flags.DEFINE_string("out", "", "PNG path (default WORKDIR/returns.png).")
  flags.DEFINE_string("title", "", "Plot title (default: the workdir's name).")
  flags.DEFINE_string("record", "", "Also write a run record here (docs/run_records/atari_*.json).")
  app.run(lambda argv: run_main(main, argv))
