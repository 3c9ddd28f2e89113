"""Runs the experiments of Mnih et al. 2014 (Tables 1–2, Catch) and writes `docs/results.md`.

  python -m launch.reproduce --set=table1 --data_dir=../shared/data/mnist [--runs_dir=runs]

Each row of the paper's tables is one `Experiment`: a config file, overrides, and the paper's
number. Runs go one after another through the normal launches (`launch.mnist`, `launch.catch`)
with workdir `RUNS_DIR/<name>`, so a part-done row resumes where it stopped and a finished one
is skipped. After every run (and with `--report_only`) `docs/results.md` is rewritten: the
paper's number and ours side by side, with the command, images seen, wall time and machine, and
`docs/figures/table_<table>.png` plots every run's test error against images seen.
`--set` is one of the sets below or a comma-separated list of experiment names.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time

from absl import app, flags

from common.cli import run_child, run_main
from common.errors import STOPPED_EXIT_CODE, Stopped, UsageError
from common.metrics import after_resumes, read_metrics
from common.workdir import write_json_atomic


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


def read_json(path: str) -> dict | None:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


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


def machine() -> str:
  import jax  # pylint: disable=g-import-not-at-top  # Only the report needs JAX.
  device = jax.devices()[0]
  return f"{platform.machine()} {os.cpu_count()} cores, {device.platform} ({device.device_kind})"


PAPER_METHOD = (
    "What counts as the paper's method in Tables 1–2: the model of sections 3–4 trained by the "
    "hybrid loss with the 0/1 reward of sec. 4.1. Sec. 3.2's \"standard backpropagation\" reads "
    "as REINFORCE's gradient reaching the core and glimpse networks (`reinforce_to_core`); the rows "
    "run before 2026-12-06 kept it off, and count as the method too. A row may set what the paper "
    "leaves open or names loosely: learning rate and schedule, location std, the REINFORCE weight, "
    "the core's initialisation (`core_identity_init`), Nesterov momentum (\"momentum\") and "
    "gradient clipping. Every RAM row keeps one departure, a tanh on the location mean "
    "(`squash_location`; sec. 4 has a linear one). Not the paper's method, so in no row: the "
    "position loss (`position_weight`), `reward=probability`, several episodes per image with a "
    "leave-one-out baseline (`samples_per_image`; the paper learns its baseline), and Adam (the "
    "Catch row, a game, is trained with Adam).")


def write_report(path: str, runs_dir: str, data_dir: str):
  """Rewrites the results table from the runs in `runs_dir` and the recorded rows.

  A row's command is the one its run was launched with (`command.json`, so `--extra` overrides
  show only on the rows they were used for); a row never run shows its default command. Records
  are kept in `run_records/` beside the report (see `current_rows`).
  """
  docs_dir = os.path.dirname(path) or "."
  rows = current_rows(runs_dir, os.path.join(docs_dir, "run_records"), data_dir)
  lines = [
      "# RAM: paper vs. this repository",
      "",
      "Generated by `python -m launch.reproduce` (do not edit by hand; re-run with `--report_only`).",
      f"Machine of the latest report: {machine()}. Errors are on the full 10k test set with the "
      "deterministic (mean) location policy; Catch is % of balls caught. Each row with a result "
      "is also kept in `run_records/<name>.json`, so it survives when its run directory does not.",
      "",
      PAPER_METHOD,
      "",
      "| table | setting | paper | ours | status | training seen | wall time | command |",
      "|---|---|---|---|---|---|---|---|",
  ]
  for e in EXPERIMENTS:
    row = rows[e.name]
    ours = "—" if row["value"] is None else f"{100 * row['value']:.2f}%"
    if row["images"]:
      seen = f"{row['images'] / 1e6:.1f}M images"
    elif row["frames"]:
      seen = f"{row['frames'] / 1e6:.1f}M frames"
    else:
      seen = "—"
    wall = f"{row['wall_s'] / 3600:.2f} h" if row["wall_s"] else "—"
    lines.append(f"| {e.table} | {e.setting} | {e.paper:g}% | {ours} | {row['state']} | {seen} | "
                 f"{wall} | `python {row['command']}` |")
  searches = sorted(f for f in os.listdir(docs_dir) if f.startswith("search_") and f.endswith(".md")) \
      if os.path.isdir(docs_dir) else []
  if searches:
    lines += ["", "Hyper-parameter searches (`python -m launch.search_ram`): " +
              ", ".join(f"[{f}]({f})" for f in searches) + "."]
  figures = []
  for table in dict.fromkeys(e.table for e in EXPERIMENTS):
    curves = table_curves(rows, table)
    if curves:  # Redrawn every time, so it never shows a row's superseded run.
      figure = os.path.join("figures", f"table_{table}.png")
      from launch import visualize_ram  # pylint: disable=g-import-not-at-top  # matplotlib.
      os.makedirs(os.path.join(docs_dir, "figures"), exist_ok=True)
      visualize_ram.plot_table_curves(curves, f"Table {table} (Mnih et al. 2014): test error",
                                      os.path.join(docs_dir, figure))
      figures.append(f"[Table {table}]({figure})")
  if figures:
    lines += ["", "Learning curves (test error against training images; a large single point is "
              "a row whose evaluations were not kept): " + ", ".join(figures) + "."]
  lines += classifier_lines(os.path.join(docs_dir, "run_records"), rows)
  lines += atari_lines(os.path.join(docs_dir, "run_records"))
  lines += s3ta_lines(os.path.join(docs_dir, "run_records"))
  os.makedirs(docs_dir, exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  os.replace(tmp, path)


def _format_measured(measured: dict) -> str:
  return "; ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in measured.items())


def _records(records_dir: str, kind: str, prefix: str = "s3ta_") -> list[tuple[str, dict]]:
  """(file name, record) of each `run_records/PREFIX*.json` whose kind is `kind`."""
  names = sorted(f for f in os.listdir(records_dir) if f.startswith(prefix) and
                 f.endswith(".json")) if os.path.isdir(records_dir) else []
  records = [(n, read_json(os.path.join(records_dir, n))) for n in names]
  return [(n, r) for n, r in records if r and r.get("kind") == kind]


# The RAM row each classifier task is compared with (same task, same test canvases).
CLASSIFIER_TASKS = {"cluttered_mnist": ("cluttered60_ram8", "60x60 cluttered MNIST"),
                    "moving_mnist": (None, "moving digits in clutter, 6 frames of 32x32, 20 "
                                           "classes (s3ta_jax/moving_mnist.py)")}


def classifier_lines(records_dir: str, ram_rows: dict[str, dict]) -> list[str]:
  """The S3TA classifier section: one row per `run_records/s3ta_*.json` of kind s3ta_classifier
  (`launch.visualize_s3ta --workdir=CLASSIFY_WORKDIR --record=...`), beside the RAM row of the
  same task."""
  records = _records(records_dir, "s3ta_classifier")
  if not records:
    return []
  lines = ["", "# S3TA classifiers (Mott et al. 2019, section 4.2)", "",
           "Top-1 test error of the final accumulated logits; per step, the error of the logits "
           "accumulated so far and the mean attention mass inside the digit's 28x28 box (one "
           "value per head).", "",
           "| task | model | ours | RAM on the same test set (paper; ours) | error after each step "
           "| attention in the box, per step | training seen | wall time | trained by | figures | "
           "machine, date |", "|---|---|---|---|---|---|---|---|---|---|---|"]
  for name, r in records:
    res = r["results"]
    ram_name, task = CLASSIFIER_TASKS.get(res["dataset"], (None, res["dataset"]))
    ram = "—"
    if ram_name in BY_NAME:
      ours = ram_rows.get(ram_name, {}).get("value")
      ram = f"{BY_NAME[ram_name].paper:g}%; " + ("—" if ours is None else f"{100 * ours:.2f}%")
    steps = " / ".join(f"{100 * e:.2f}%" for e in res["step_top1_error"])
    in_box = " / ".join("(" + ", ".join(f"{m:.2f}" for m in heads) + ")"
                        for heads in res.get("attention_in_box", [])) or "—"
    figures = ", ".join(f"[{os.path.basename(f)}]({f})" for f in r.get("figures", []))
    wall = f"{r['wall_s'] / 3600:.2f} h" if r.get("wall_s") else "—"
    lines.append(f"| {task} ([record](run_records/{name})) | {res['kind']}, T={res['sequence_length']} "
                 f"| {100 * r['value']:.2f}% | {ram} | {steps} | {in_box} | "
                 f"{res['images'] / 1e6:.2g}M {'clips' if 'video' in res['kind'] else 'images'} | {wall} | `{r.get('train_command') or 'not recorded'}` "
                 f"| {figures} | {r.get('machine', '')}, {r.get('date', '')} |")
  return lines


def atari_lines(records_dir: str) -> list[str]:
  """The Atari section: one row per `run_records/atari_*.json` (`launch.plot_atari --record`)."""
  from launch import plot_atari  # pylint: disable=g-import-not-at-top  # Its milestone labels.
  records = _records(records_dir, "atari_run", prefix="atari_")
  if not records:
    return []
  columns = [m for m in map(plot_atari.milestone_label, plot_atari.MILESTONES)
             if any(m in r["milestones"] for _, r in records)]
  lines = ["", "# IMPALA on Atari, CPU-sized runs", "",
           "Mean return of the last 100 whole games (all lives) when the run first passed each "
           "frame count. The paper's Atari results (Table 1, Fig. 4) are after ~2e9 frames on "
           "accelerators; these runs are the 2-core-CPU check that an agent learns at all.", "",
           "| run | game | agent | " + " | ".join(columns) + " | last (frames) | trained by | "
           "figure | machine, date |", "|---|---|---|" + "---|" * len(columns) + "---|---|---|---|"]
  for name, r in records:
    at = " | ".join(f"{r['milestones'][m]:.2f}" if m in r["milestones"] else "—" for m in columns)
    figures = ", ".join(f"[{os.path.basename(f)}]({f})" for f in r.get("figures", []))
    lines.append(f"| {r['title']} ([record](run_records/{name})) | {r['env']} | {r['agent']} | "
                 f"{at} | {r['value']:.2f} ({r['frames'] / 1e6:.2f}M) | "
                 f"`{r.get('command') or 'not recorded'}` | {figures} | "
                 f"{r.get('machine', '')}, {r.get('date', '')} |")
  if any(r["agent"] in ("fixed_query", "l2_keys") for _, r in records):
    lines += ["", "Section 4.1.1 (top-down queries against the bottom-up ablations): the paper trains "
              "seven other games for 2e9 frames and finds the top-down agent clearly better on 6 "
              "of 7, median human-normalised score 541.1% against 274.7% (fixed query) and 274.5% "
              "(L2-norm keys); the rows above compare the same agents on Breakout at the CPU "
              "budget, each with the same `:cpu` settings (all curves: "
              "[breakout_small_compare.png](figures/impala/breakout_small_compare.png))."]
  return lines


def s3ta_lines(records_dir: str) -> list[str]:
  """The S3TA section: one row per `run_records/s3ta_*.json` written by the S3TA tools
  (`launch.visualize_s3ta --record`), with how the agent was trained and drawn."""
  records = _records(records_dir, "s3ta_check")
  if not records:
    return []
  lines = ["", "# S3TA: checks of what trained agents attend to", "",
           "| check | paper | ours (measured) | agent trained by | drawn by | figures | machine, date |",
           "|---|---|---|---|---|---|---|"]
  for name, r in records:
    figures = ", ".join(f"[{os.path.basename(f)}]({f})" for f in r.get("figures", []))
    lines.append(f"| {r['title']} ([record](run_records/{name})) | {r['paper']} | "
                 f"{_format_measured(r['measured'])} (after {r['frames']:,} frames) | "
                 f"`{r.get('train_command') or 'not recorded'}` | `{r['command']}` | {figures} | "
                 f"{r.get('machine', '')}, {r.get('date', '')} |")
  return lines


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


def define_flags():
  """Flags exist only when run as a program, so tests can import several launch modules."""
  flags.DEFINE_string("set", "table1", "Experiment set or comma-separated experiment names.")
  flags.DEFINE_string("runs_dir", "runs", "Parent directory of the runs' workdirs.")
  flags.DEFINE_string("data_dir", "", "MNIST idx directory (default: tensorflow-datasets).")
  flags.DEFINE_string("report", "docs/results.md", "Where to write the results table.")
  flags.DEFINE_bool("report_only", False, "Only rewrite the report from existing runs.")
  flags.DEFINE_list("extra", [], "More overrides for every run, e.g. num_train_steps=1000.")


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}")
  f = flags.FLAGS
  experiments = select(f.set)
  if not f.report_only:
    failed = []
    for e in experiments:
      code = run_experiment(e, f.runs_dir, f.data_dir, f.extra)
      write_report(f.report, f.runs_dir, f.data_dir)  # Keep the table current.
      if code == STOPPED_EXIT_CODE:
        raise Stopped(f"stopped during {e.name}; re-run the same command to resume.")
      if code != 0:
        failed.append(e.name)
    if failed:
      raise UsageError(f"runs failed: {failed}; see their output above.")
  write_report(f.report, f.runs_dir, f.data_dir)
  print(f"wrote {f.report}")


if __name__ == "__main__":
  define_flags()
  app.run(lambda argv: run_main(main, argv))
