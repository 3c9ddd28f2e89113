"""The experiments of Mnih et al. 2014 (Tables 1–2, Catch), each run as a `launch.mnist` or
`launch.catch` child process in `RUNS_DIR/<name>`, and the row each run (or its record) gives.

Each row of the paper's tables is one `Experiment`: a config file, overrides, and the paper's
number. A part-done row resumes where it stopped and a finished one is skipped; every row with a
result is also kept in `run_records/<name>.json`, so regenerating `docs/results.md` on a fresh
machine never loses a measured number (`current_rows`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from common.cli import run_child
from common.errors import UsageError
from common.metrics import after_resumes, read_metrics
from common.workdir import read_json, write_json_atomic


@dataclasses.dataclass(frozen=True)
class Experiment:
  name: str
  table: str  # Where the paper reports it.
  setting: str  # Row label as in the paper.
  config: str  # Config file, optionally with `:arg`.
  paper: float  # Paper's test error in % (Catch: % of balls caught).
  overrides: tuple[str, ...] = ()
  launch: str = "launch.mnist"
  metric: str = "test_error"  # Key in results.json; a fraction.
  higher_is_better: bool = False

  def command(self, workdir: str, data_dir: str, extra=()) -> list[str]:
    args = [sys.executable, "-m", self.launch, f"--config={self.config}",
            f"--config.workdir={workdir}"]
    if self.launch == "launch.mnist" and data_dir:
      args.append(f"--config.data_dir={data_dir}")
    return args + [f"--config.{o}" for o in self.overrides] + [f"--config.{o}" for o in extra]


def _ram(name, table, glimpses, paper, config, size, scales):
  noun = "glimpse" if glimpses == 1 else "glimpses"
  return Experiment(name, table, f"RAM, {glimpses} {noun}, {size}×{size}, {scales} scale(s)",
                    config, paper, (f"num_glimpses={glimpses}",))


EXPERIMENTS = [
    # Table 1a: 28×28 MNIST.
    Experiment("mnist28_fc256", "1a", "FC, 2 layers (256 hidden each)", "configs/ram_mnist.py:fc256", 1.35),
    _ram("mnist28_ram1", "1a", 1, 42.85, "configs/ram_mnist.py", 8, 1),
    *[_ram(f"mnist28_ram{g}", "1a", g, p, "configs/ram_mnist.py", 8, 1)
      for g, p in [(2, 6.27), (3, 2.7), (4, 1.73), (5, 1.55), (6, 1.29), (7, 1.47)]],
    # Table 1b: 60×60 translated MNIST.
    Experiment("translated60_fc64", "1b", "FC, 2 layers (64 hidden each)", "configs/ram_translated60.py:fc64", 7.56),
    Experiment("translated60_fc256", "1b", "FC, 2 layers (256 hidden each)", "configs/ram_translated60.py:fc256", 3.7),
    Experiment("translated60_conv", "1b", "Convolutional, 2 layers", "configs/ram_translated60.py:conv16", 2.31),
    *[_ram(f"translated60_ram{g}", "1b", g, p, "configs/ram_translated60.py", 12, 3)
      for g, p in [(4, 2.29), (6, 1.86), (8, 1.84)]],
    # Table 2a: 60×60 cluttered translated MNIST (4 pieces of clutter).
    Experiment("cluttered60_fc64", "2a", "FC, 2 layers (64 hidden each)", "configs/ram_cluttered60.py:fc64", 28.96),
    Experiment("cluttered60_fc256", "2a", "FC, 2 layers (256 hidden each)", "configs/ram_cluttered60.py:fc256", 13.2),
    Experiment("cluttered60_conv", "2a", "Convolutional, 2 layers", "configs/ram_cluttered60.py:conv8", 7.83),
    *[_ram(f"cluttered60_ram{g}", "2a", g, p, "configs/ram_cluttered60.py", 12, 3)
      for g, p in [(4, 7.1), (6, 5.88), (8, 5.23)]],
    # Table 2b: 100×100 cluttered translated MNIST (8 pieces of clutter).
    Experiment("cluttered100_conv", "2b", "Convolutional, 2 layers", "configs/ram_cluttered100.py:conv8", 16.51),
    *[_ram(f"cluttered100_ram{g}", "2b", g, p, "configs/ram_cluttered100.py", 12, 4)
      for g, p in [(4, 14.95), (6, 11.58), (8, 10.83)]],
    # Sec. 4.2: Catch.
    Experiment("catch", "4.2", "RAM, 6×6 retina, 3 scales, LSTM 256", "configs/ram_catch.py", 85.0,
               launch="launch.catch", metric="catch_rate", higher_is_better=True),
]
BY_NAME = {e.name: e for e in EXPERIMENTS}
SETS = {
    "table1": [e.name for e in EXPERIMENTS if e.table in ("1a", "1b")],
    "table2": [e.name for e in EXPERIMENTS if e.table in ("2a", "2b")],
    "catch": ["catch"],
    # The rows with a target error in docs/results.md.
    "targets": ["mnist28_ram6", "translated60_ram8", "cluttered60_ram8", "cluttered60_conv",
                "cluttered100_ram8", "cluttered100_conv", "catch"],
    "all": [e.name for e in EXPERIMENTS],
}


def select(spec: str) -> list[Experiment]:
  names = SETS.get(spec, [s.strip() for s in spec.split(",") if s.strip()])
  unknown = [n for n in names if n not in BY_NAME]
  if unknown:
    raise UsageError(f"unknown experiment(s) {unknown}; sets: {sorted(SETS)}; "
                             f"experiments: {sorted(BY_NAME)}.")
  return [BY_NAME[n] for n in names]


def status(workdir: str, experiment: Experiment) -> dict:
  """What a run has produced: `done`, the metric (a fraction) if known, steps and wall time."""
  results = read_json(os.path.join(workdir, "results.json"))
  config = read_json(os.path.join(workdir, "config.json")) or {}
  wall = read_json(os.path.join(workdir, "wall_time.json")) or {}
  out = {"done": False, "value": None, "wall_s": wall.get("seconds", 0.0), "config": config}
  if results is not None:
    if "total_frames" in config:  # Catch counts frames; its steps are updates.
      done = results.get("frames", 0) >= config["total_frames"]
    else:
      done = results.get("step", 0) >= config.get("num_train_steps", 0)
    out.update(done=done, value=results.get(experiment.metric), results=results)
  else:  # Part-done: report the latest evaluation.
    evals = [r for r in read_metrics(workdir) if experiment.metric in r]
    if evals:
      out.update(value=evals[-1][experiment.metric], step=evals[-1]["step"])
  return out


def row_summary(workdir: str, experiment: Experiment, data_dir: str) -> dict:
  """One report row from a run's workdir, as JSON-able fields (also what a record keeps).

  `images` is the training images seen (None for Catch, which counts frames); `curve` the test
  error (%) against images seen at each evaluation.
  """
  s = status(workdir, experiment)
  if s["done"]:
    state = "done"
  elif s["value"] is not None:
    state = f"part-done (step {s.get('step', '?')})"
  else:
    state = "not run"
  results, config = s.get("results") or {}, s["config"]
  images = frames = None
  if "images" in results:
    images = results["images"]
  elif "frames" in results:
    frames = results["frames"]
  elif "step" in s and "batch_size" in config:  # Part-done, at its latest evaluation.
    images = s["step"] * config["batch_size"]
  curve = []
  if experiment.metric == "test_error" and "batch_size" in config:
    evals = after_resumes([r for r in read_metrics(workdir) if "test_error" in r])
    curve = [[r["step"] * config["batch_size"], 100 * r["test_error"]] for r in evals]
  launched = (read_json(os.path.join(workdir, "command.json")) or {}).get("command")
  command = " ".join((launched or experiment.command(workdir, data_dir))[1:])
  return {"value": s["value"], "state": state, "images": images, "frames": frames,
          "wall_s": s["wall_s"], "command": command, "curve": curve}


def current_rows(runs_dir: str, records_dir: str, data_dir: str) -> dict[str, dict]:
  """Every experiment's row: from its run in `runs_dir` if it has a result, else from its record.

  Runs live outside the repository and are gone on a fresh machine; each row with a result is
  therefore also kept in `records_dir/<name>.json` (committed with the report), so regenerating
  the report never loses a measured number. A run with a result replaces its record, except that
  a part-done run does not replace a finished one.
  """
  rows = {}
  for e in EXPERIMENTS:
    row = row_summary(os.path.join(runs_dir, e.name), e, data_dir)
    record_path = os.path.join(records_dir, f"{e.name}.json")
    record = read_json(record_path)
    if row["value"] is not None and (row["state"] == "done" or not record
                                     or record["state"] != "done"):
      os.makedirs(records_dir, exist_ok=True)
      write_json_atomic(record_path, row)
    elif record:
      row = record
    rows[e.name] = row
  return rows


def table_curves(rows: dict[str, dict], table: str) -> list[tuple[str, list, list, float]]:
  """(setting, images, test error %, paper %) of every row of `table` with a test error.

  A row recorded without its evaluations (its run's log is gone) is drawn as its final point."""
  curves = []
  for e in EXPERIMENTS:
    row = rows[e.name]
    if e.table != table or e.metric != "test_error" or row["value"] is None:
      continue
    points = row["curve"] or ([[row["images"], 100 * row["value"]]] if row["images"] else [])
    if points:
      curves.append((e.setting, [p[0] for p in points], [p[1] for p in points], e.paper))
  return curves


def run_experiment(e: Experiment, runs_dir: str, data_dir: str, extra=()) -> int:
  """Runs (or resumes) one experiment; adds its wall time to `wall_time.json`. Returns exit code."""
  workdir = os.path.join(runs_dir, e.name)
  if status(workdir, e)["done"]:
    print(f"== {e.name}: done, skipped", flush=True)
    return 0
  command = e.command(workdir, data_dir, extra)
  print(f"== {e.name}: {' '.join(command[1:])}", flush=True)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "command.json"), "w") as f:
    json.dump({"command": command}, f)
  start = time.time()
  try:
    code = run_child(command)  # Ctrl-C: the run checkpoints and exits with 130.
  finally:  # Counted even when interrupted, so resumed runs report their whole wall time.
    wall_path = os.path.join(workdir, "wall_time.json")
    previous = (read_json(wall_path) or {}).get("seconds", 0.0)
    with open(wall_path, "w") as f:
      json.dump({"seconds": previous + time.time() - start}, f)
  return code
