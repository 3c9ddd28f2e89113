"""Learning curve of a `launch.atari` run: mean return of the last 100 games and policy entropy.

  python -m launch.plot_atari --workdir=workdirs/s3ta_breakout_cpu --out=docs/figures/impala/x.png

Reads `WORKDIR/metrics.jsonl` (the progress lines), so it works on a running or stopped run.
"""
from __future__ import annotations

import os

from absl import app, flags

from launch import runtime


def plot(records: list[dict], title: str, path: str) -> int:
  """Writes the PNG; returns the number of points drawn."""
  import matplotlib  # pylint: disable=g-import-not-at-top  # Only plotting needs it.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  points = runtime.after_resumes([r for r in records if "return_mean" in r])
  if not points:
    raise runtime.UsageError("no return_mean in metrics.jsonl yet: no game has finished.")
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


def main(argv):
  if len(argv) > 1:
    raise runtime.UsageError(f"unexpected arguments {argv[1:]}")
  f = flags.FLAGS
  records = runtime.read_metrics(f.workdir)
  if not records:
    raise runtime.UsageError(f"no metrics.jsonl in {f.workdir!r}; pass a launch.atari workdir.")
  out = f.out or os.path.join(f.workdir, "returns.png")
  n = plot(records, f.title or os.path.basename(os.path.normpath(f.workdir)), out)
  print(f"wrote {out} ({n} points)")


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "A launch.atari workdir.", required=True)
  flags.DEFINE_string("out", "", "PNG path (default WORKDIR/returns.png).")
  flags.DEFINE_string("title", "", "Plot title (default: the workdir's name).")
  app.run(lambda argv: runtime.run_main(main, argv))
