"""Run records (`docs/run_records/*.json`: one measured result each, with the command that made
it) and the sections of `docs/results.md` written from them: S3TA classifiers, IMPALA on Atari,
checks of what S3TA agents attend to. The RAM rows are `ram_jax.experiments`'.
"""
from __future__ import annotations

import math
import os
import re
import statistics
from typing import Callable

from common.workdir import read_json


def format_measured(measured: dict) -> str:
  return "; ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in measured.items())


def read_records(records_dir: str, kind: str, prefix: str = "s3ta_") -> list[tuple[str, dict]]:
  """(file name, record) of each `run_records/PREFIX*.json` whose kind is `kind`."""
  names = sorted(f for f in os.listdir(records_dir) if f.startswith(prefix) and
                 f.endswith(".json")) if os.path.isdir(records_dir) else []
  records = [(n, read_json(os.path.join(records_dir, n))) for n in names]
  return [(n, r) for n, r in records if r and r.get("kind") == kind]


def classifier_lines(records_dir: str,
                     compare: Callable[[str], tuple[str, str]]) -> list[str]:
  """The S3TA classifier section: one row per `run_records/s3ta_*.json` of kind s3ta_classifier
  (`launch.visualize_s3ta --workdir=CLASSIFY_WORKDIR --record=...`); `compare(dataset)` gives
  the task's description and the RAM result on the same test set (paper; ours)."""
  records = read_records(records_dir, "s3ta_classifier")
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
    task, ram = compare(res["dataset"])
    steps = " / ".join(f"{100 * e:.2f}%" for e in res["step_top1_error"])
    in_box = " / ".join("(" + ", ".join(f"{m:.2f}" for m in heads) + ")"
                        for heads in res.get("attention_in_box", [])) or "—"
    figures = ", ".join(f"[{os.path.basename(f)}]({f})" for f in r.get("figures", []))
    wall = f"{r['wall_s'] / 3600:.2f} h" if r.get("wall_s") else "—"
    seen = f"{res['images'] / 1e6:.2g}M {'clips' if 'video' in res['kind'] else 'images'}"
    lines.append(f"| {task} ([record](run_records/{name})) | {res['kind']}, "
                 f"T={res['sequence_length']} | {100 * r['value']:.2f}% | {ram} | {steps} | "
                 f"{in_box} | {seen} | {wall} | `{r.get('train_command') or 'not recorded'}` "
                 f"| {figures} | {r.get('machine', '')}, {r.get('date', '')} |")
  return lines


def atari_lines(records_dir: str) -> list[str]:
  """The Atari section: one row per `run_records/atari_*.json` (`launch.plot_atari --record`)."""
  records = read_records(records_dir, "atari_run", prefix="atari_")
  if not records:
    return []
  # Milestones are labelled in millions of frames ('0.25M'); one column each, in order.
  columns = sorted({m for _, r in records for m in r["milestones"]}, key=lambda m: float(m[:-1]))
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
  lines += parity_lines(records)
  return lines


def population_lines(records_dir: str) -> list[str]:
  """The multi-level section: one row per `run_records/atari_*.json` of a population
  (`launch.plot_atari --workdir=PBT_WORKDIR --record=...`)."""
  records = read_records(records_dir, "atari_population", prefix="atari_")
  if not records:
    return []
  lines = ["", "# Multi-level agent and population based training (App. A.1.2, Table 4)", "",
           "One agent on several levels (full action set) trained by a population; a member's "
           "fitness is the mean over levels of the capped human-normalised score of its recent "
           "games (Espeholt et al. 2018). Without PBT is the same population never evolving. The "
           "paper: a population of 16 on all 57 levels, evolving after 2e7 frames; its multi-level "
           "agents score below the single-level experts on almost all levels (Table 4; Seaquest: "
           "attention 1.4%, feed-forward 1.9% human-normalised; the Breakout and SpaceInvaders "
           "rows are unreadable in our copy of the table).", "",
           "| run | levels | members x frames | evolves after | exploits | best member: fitness "
           "(return per level) | fitness of all members | wall time | trained by | figure | "
           "machine, date |", "|---|---|---|---|---|---|---|---|---|---|---|"]
  for name, r in records:
    best = next(m for m in r["members"] if m["member"] == r["best_member"])
    per_level = ", ".join(f"{level} {best['returns'][level]:.1f}" for level in r["levels"]
                          if level in best["returns"])
    fitness = ", ".join(f"{m['fitness']:.3f}" for m in r["members"])
    evolves = f"{r['burn_in_frames'] / 1e6:g}M frames" if r["evolving"] else "never"
    figures = ", ".join(f"[{os.path.basename(f)}]({f})" for f in r.get("figures", []))
    lines.append(f"| {r['title']} ([record](run_records/{name})) | {', '.join(r['levels'])} | "
                 f"{r['population']} x {r['frames'] / 1e6:.2f}M | {evolves} | "
                 f"{sum(m['exploits'] for m in r['members'])} | {best['fitness']:.3f} "
                 f"({per_level}) | {fitness} | {r['wall_s'] / 3600:.2f} h | "
                 f"`{r.get('command') or 'not recorded'}` | {figures} | "
                 f"{r.get('machine', '')}, {r.get('date', '')} |")
  return lines


SMALL_RUN_NAME = re.compile(
    r"atari_(?P<game>[a-z]+)_small_(?P<kind>s3ta|lstm|fixed_query|l2_keys)(_seed\d+)?\.json")


def small_runs(records: list[tuple[str, dict]]) -> dict[str, dict[str, list[dict]]]:
  """{game: {kind: [records of its seeds]}} of the records named
  `atari_<game>_small_<kind>[_seedN].json` (the parity and section 4.1.1 runs)."""
  runs = {}
  for name, r in records:
    m = SMALL_RUN_NAME.fullmatch(name)
    if m:
      runs.setdefault(m["game"], {}).setdefault(m["kind"], []).append(r)
  return runs


def return_at_seconds(curve: list[list[float]], seconds: float) -> tuple[float, float] | None:
  """(frames, mean return) of a record's curve at the last point within `seconds` of training;
  None for a curve without seconds (records before 2026-12-07) or without a point that early."""
  within = [p for p in curve if len(p) > 2 and p[2] <= seconds]
  return (within[-1][0], within[-1][1]) if within else None


def parity_lines(records: list[tuple[str, dict]]) -> list[str]:
  """Per game, S3TA's mean final return over its `atari_<game>_small_s3ta*` seeds against the
  LSTM baseline's, at equal frames and at equal wall-clock (the LSTM runs at the S3TA runs'
  median training time: the two agents run at different frames/s)."""
  lines = []
  for game, kinds in sorted(small_runs(records).items()):
    if "s3ta" not in kinds or "lstm" not in kinds:
      continue
    s3ta, lstm = kinds["s3ta"], kinds["lstm"]
    mean = lambda rs: sum(r["value"] for r in rs) / len(rs)
    seeds = lambda rs: f"{len(rs)} seed{'s' * (len(rs) > 1)}"
    line = (f"Parity on {s3ta[0]['env']} (small agents): S3TA {mean(s3ta):.2f} (mean of "
            f"{seeds(s3ta)} at {min(r['frames'] for r in s3ta) / 1e6:.1f}M+ frames), the LSTM "
            f"baseline {mean(lstm):.2f} ({seeds(lstm)} at "
            f"{min(r['frames'] for r in lstm) / 1e6:.1f}M+): ratio {mean(s3ta) / mean(lstm):.2f}.")
    seconds = statistics.median(r["wall_s"] for r in s3ta)
    at = [return_at_seconds(r["curve"], seconds) for r in lstm]
    if all(at):
      line += (f" At equal wall-clock ({seconds / 3600:.2f} h of training on this CPU, the S3TA "
               f"runs' median time to their end) the baseline was at "
               f"{sum(a[1] for a in at) / len(at):.2f} (after "
               f"{sum(a[0] for a in at) / len(at) / 1e6:.2f}M frames on average).")
    lines += ["", line]
  return lines


def s3ta_lines(records_dir: str) -> list[str]:
  """The S3TA section: one row per `run_records/s3ta_*.json` written by the S3TA tools
  (`launch.visualize_s3ta --record`), with how the agent was trained and drawn."""
  records = read_records(records_dir, "s3ta_check")
  if not records:
    return []
  lines = ["", "# S3TA: checks of what trained agents attend to", "",
           "| check | paper | ours (measured) | agent trained by | drawn by | figures | machine, date |",
           "|---|---|---|---|---|---|---|"]
  for name, r in records:
    figures = ", ".join(f"[{os.path.basename(f)}]({f})" for f in r.get("figures", []))
    lines.append(f"| {r['title']} ([record](run_records/{name})) | {r['paper']} | "
                 f"{format_measured(r['measured'])} (after {r['frames']:,} frames) | "
                 f"`{r.get('train_command') or 'not recorded'}` | `{r['command']}` | {figures} | "
                 f"{r.get('machine', '')}, {r.get('date', '')} |")
  return lines


SPEED_AGENTS = {"s3ta": "small S3TA, ConvLSTM (`s3ta`)",
                "s3ta_ff": "small S3TA, feed-forward vision layer (`s3ta_ff`)",
                "lstm": "ResNet-LSTM baseline (`lstm`)",
                "feedforward": "ResNet baseline (`feedforward`)",
                "paper": "paper-size S3TA, learner 4 x 20 on CPU (`paper`)"}
SPEED_COLUMNS = (("envpool", "envpool alone"), ("actor", "actors"), ("learner", "learner"),
                 ("pipeline", "pipeline"))


def speed_lines(records_dir: str) -> list[str]:
  """The Atari speed section, from `run_records/speed_atari.json` (`launch.benchmark atari
  --record`): frames/s of each stage per agent, the pipeline's share of envpool alone and its
  GFLOP/s beside the machine's f32 matmul peak."""
  records = read_records(records_dir, "speed_atari", prefix="speed_")
  if not records:
    return []
  lines = ["", "# IMPALA on Atari: training speed", ""]
  for name, r in records:
    lines += [f"Frames/s on {r['machine']}, {r['date']}, Breakout, steady state after compilation "
              f"([record](run_records/{name}); `{r['command']}`). f32 matmul peak "
              f"{r['matmul_peak_gflops']:,.0f} GFLOP/s. What limits each agent, and the code "
              "before and after issue 44 side by side: "
              "[notes/2026-12-07-atari-speed.md](notes/2026-12-07-atari-speed.md).", "",
              "| agent | " + " | ".join(label for _, label in SPEED_COLUMNS) +
              " | pipeline / envpool | GFLOP/s (of peak) |",
              "|---|" + "---|" * (len(SPEED_COLUMNS) + 2)]
    for row in r["rows"]:
      frames = " | ".join(f"{row[key]:,.0f}" for key, _ in SPEED_COLUMNS)
      flops = ("—" if math.isnan(row["gflops"])  # Run with --flops=False.
               else f"{row['gflops']:,.1f} ({row['of_peak']:.0%})")
      agent = SPEED_AGENTS.get(row["case"], row["case"])
      lines.append(f"| {agent} | {frames} | {row['of_envpool']:.1%} | {flops} |")
  return lines
