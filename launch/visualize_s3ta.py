"""Pictures of what a trained Atari / Catch agent attends to (Mott et al. 2019, section 4.1).

  python -m launch.visualize_s3ta --workdir=workdirs/s3ta_breakout [--steps=300] [--out_dir=DIR]
      [--baseline_workdir=workdirs/lstm_breakout]

Plays `--steps` greedy steps from the latest checkpoint and writes into `--out_dir` (default
WORKDIR/figures):
  attention.mp4      one panel per head: the frame, bright where that head attends (Fig. 2), then
                     per head its what/where contribution (eq. 11: red = content, blue = space,
                     Fig. 5); action and value on top. `attention.gif` when no MP4 encoder is
                     installed (`pip install -e ".[video]"` adds imageio-ffmpeg).
  what_where.png     frames x heads of the attention and the what/where maps (Fig. 5 layout).
  marginals.png      per head, the row and column sums of the maps at the chosen frames (Fig. 12).
  saliency.png       perturbation saliency (Greydanus et al. 2017, Fig. 6) of the policy and the
                     value beside the attention, and of `--baseline_workdir`'s agent if given.
  follows_ball.json  (Catch) distance in cells from the most peaked head's peak to the ball, against
                     a uniform map and the best fixed map, and whether the peak moves when the
                     ball is moved in the frame (`s3ta_jax.interpret.ball_following`).
The functions behind each file are in `s3ta_jax.interpret`.

  python -m launch.visualize_s3ta --workdir=workdirs/s3ta_cluttered60 [--stills=6]
A launch.classify workdir instead gets `steps.png`: Fig. 7's layout for the first `--stills`
evaluation images (the image, each step's attention, each step's class probabilities); its
`--record` holds the run's final test error and attention mass in the digit's box per step.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time

import matplotlib
import numpy as np
from absl import app, flags, logging

matplotlib.use("Agg")  # Files only; no display on servers.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from common.cli import run_main
from common.errors import UsageError
from common.metrics import read_metrics
from common.workdir import write_json_atomic
from s3ta_jax import interpret
from s3ta_jax.impala import workdir as atari_workdir

_WORKDIR = flags.DEFINE_string("workdir", None, "A launch.atari workdir.")
_BASELINE = flags.DEFINE_string("baseline_workdir", None, "A baseline's workdir, for saliency.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Where to write (default WORKDIR/figures).")
_STEPS = flags.DEFINE_integer("steps", 300, "Greedy agent steps to play and draw.")
_STILLS = flags.DEFINE_integer("stills", 6, "Frames in the what/where, marginals and saliency figures.")
_FPS = flags.DEFINE_integer("fps", 15, "Video frames per second.")
_SEED = flags.DEFINE_integer("seed", 0, "Environment seed.")
_SCALE = flags.DEFINE_integer("scale", 3, "Pixel upscaling of the video panels.")
_RECORD = flags.DEFINE_string(
    "record", None, "Also write what was drawn and measured as a run record here (e.g. "
    "docs/run_records/s3ta_catch_follows_ball.json), listed by launch.reproduce in docs/results.md.")


def plot_what_where(rec: dict, steps: list[int], path: str):
  heads = rec["attention"].shape[1]
  hw = rec["frames"].shape[1:3]
  fig, axes = plt.subplots(len(steps), 1 + 2 * heads, figsize=(2 * (1 + 2 * heads), 2 * len(steps)),
                           squeeze=False)
  for row, t in enumerate(steps):
    panels = [("frame", rec["frames"][t])]
    panels += [(f"head {n} attention", interpret.attention_overlay(rec["frames"][t],
                                                                   rec["attention"][t, n]))
               for n in range(heads)]
    panels += [(f"head {n} what/where", interpret.what_where_image(rec["contribution"][t, n], hw))
               for n in range(heads)]
    for ax, (title, image) in zip(axes[row], panels):
      ax.imshow(image)
      ax.set_xticks([]), ax.set_yticks([])
      if row == 0:
        ax.set_title(title, fontsize=8)
    axes[row, 0].set_ylabel(f"step {t}")
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def plot_marginals(rec: dict, steps: list[int], path: str):
  heads = rec["attention"].shape[1]
  rows, cols = interpret.marginals(rec["attention"][steps])  # [S, N, h], [S, N, w]
  fig, axes = plt.subplots(2, heads, figsize=(3 * heads, 5), squeeze=False)
  for n in range(heads):
    for s, t in enumerate(steps):
      axes[0, n].plot(cols[s, n], label=f"step {t}")
      axes[1, n].plot(rows[s, n])
    axes[0, n].set_title(f"head {n}: sum over rows (x)", fontsize=8)
    axes[1, n].set_title(f"head {n}: sum over columns (y)", fontsize=8)
  axes[0, 0].legend(fontsize=6)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def plot_saliency(recs: dict[str, dict], steps: list[int], path: str):
  """Rows: frames; columns per agent: policy and value saliency over the frame, and the attention
  summed over heads (S3TA agents)."""
  columns = []
  for name, rec in recs.items():
    columns += [(name, "policy"), (name, "value")]
    if rec["attention"].shape[1]:
      columns.append((name, "attention"))
  fig, axes = plt.subplots(len(steps), len(columns), figsize=(2.2 * len(columns), 2.2 * len(steps)),
                           squeeze=False)
  for row, t in enumerate(steps):
    for ax, (name, what) in zip(axes[row], columns):
      rec = recs[name]
      frame = rec["frames"][t]
      if what == "attention":
        ax.imshow(interpret.attention_overlay(frame, rec["attention"][t].sum(0)))
      else:
        policy, value, _ = rec["saliency"][t]
        s = policy if what == "policy" else value
        ax.imshow(frame)
        ax.imshow(s, extent=(0, frame.shape[1], frame.shape[0], 0), cmap="magma", alpha=0.6)
      ax.set_xticks([]), ax.set_yticks([])
      if row == 0:
        ax.set_title(f"{name}: {what}", fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def write_record(path: str, frames: int, title: str, paper: str, result: dict,
                 written: list[str]):
  """A run record of the pictures: what was measured, how the agent was trained and drawn."""
  docs = os.path.dirname(os.path.dirname(os.path.abspath(path)))  # run_records/ sits in docs/.
  write_json_atomic(path, dict(
      kind="s3ta_check", title=title, paper=paper, frames=frames, measured=result, train_command=train_command(),
      command="python -m launch.visualize_s3ta " + " ".join(sys.argv[1:]),
      figures=[os.path.relpath(os.path.abspath(p), docs) for p in written],
      machine=f"{platform.machine()} {os.cpu_count()} cores", date=time.strftime("%Y-%m-%d")))


def train_command() -> str | None:
  launched = os.path.join(_WORKDIR.value, "command.json")
  if not os.path.exists(launched):
    return None
  with open(launched) as f:
    return "python " + " ".join(json.load(f)["command"][1:])


def visualize_classifier(out_dir: str):
  """Fig. 7 for a launch.classify workdir, and its run record."""
  from launch import classify  # pylint: disable=g-import-not-at-top  # Only classifier workdirs.
  from s3ta_jax import input_pipeline  # pylint: disable=g-import-not-at-top
  config, pipeline, model, state = classify.restore_workdir(_WORKDIR.value)
  batch = next(input_pipeline.eval_batches(pipeline, _STILLS.value))
  with classify.tfds_mock(config):
    out = model.apply({"params": state["params"], "batch_stats": state["batch_stats"]},
                      batch["image"])
  path = os.path.join(out_dir, "steps.png")
  interpret.classifier_steps_figure(batch["image"], np.asarray(out.attention),
                                    np.asarray(out.step_logits), batch["label"], path,
                                    list(pipeline.class_names) or None)
  print(f"wrote {path}", flush=True)
  results_path = os.path.join(_WORKDIR.value, "results.json")
  if _RECORD.value:
    if not os.path.exists(results_path):
      raise UsageError(f"{results_path} not found: --record needs a finished run.")
    with open(results_path) as f:
      results = json.load(f)
    docs = os.path.dirname(os.path.dirname(os.path.abspath(_RECORD.value)))
    wall = read_metrics(_WORKDIR.value)
    write_json_atomic(_RECORD.value, dict(
        kind="s3ta_classifier",
        title=f"S3TA classifier ({config.model.kind}), {results['dataset']}, "
              f"T={results['sequence_length']}",
        value=results["top1_error"], results=results, train_command=train_command(),
        command="python -m launch.visualize_s3ta " + " ".join(sys.argv[1:]),
        figures=[os.path.relpath(os.path.abspath(path), docs)],
        wall_s=(wall[-1]["time"] - wall[0]["time"]) if len(wall) > 1 else None,
        machine=f"{platform.machine()} {os.cpu_count()} cores", date=time.strftime("%Y-%m-%d")))
    print(f"wrote {_RECORD.value}", flush=True)


def _is_classifier(workdir: str) -> bool:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return "dataset" in json.load(f)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if not _WORKDIR.value:
    raise UsageError("pass --workdir=DIR of a launch.atari or launch.classify run")
  out_dir = _OUT_DIR.value or os.path.join(_WORKDIR.value, "figures")
  os.makedirs(out_dir, exist_ok=True)
  if _is_classifier(_WORKDIR.value):
    return visualize_classifier(out_dir)
  config, agent, params, frames = atari_workdir.load(_WORKDIR.value)
  n = _STEPS.value
  stills = sorted(set(np.linspace(n // 10, n - 1, _STILLS.value).astype(int).tolist()))
  print(f"{config.env_name} after {frames:,} frames: playing {n} greedy steps", flush=True)
  rec = interpret.record(agent, params, config.env_name, n, seed=_SEED.value,
                         saliency_steps=tuple(stills))
  recs = {agent.config.kind: rec}
  if _BASELINE.value:
    b_config, b_agent, b_params, _ = atari_workdir.load(_BASELINE.value)
    if b_config.env_name != config.env_name:
      raise UsageError(f"--baseline_workdir plays {b_config.env_name}, not "
                               f"{config.env_name}")
    recs[f"baseline {b_agent.config.kind}"] = interpret.record(
        b_agent, b_params, config.env_name, n, seed=_SEED.value, saliency_steps=tuple(stills))
  written = []
  if rec["attention"].shape[1]:
    written.append(interpret.write_video(interpret.video_frames(rec, _SCALE.value), out_dir, _FPS.value))
    written.append(os.path.join(out_dir, "what_where.png"))
    plot_what_where(rec, stills, written[-1])
    written.append(os.path.join(out_dir, "marginals.png"))
    plot_marginals(rec, stills, written[-1])
  written.append(os.path.join(out_dir, "saliency.png"))
  plot_saliency(recs, stills, written[-1])
  if config.env_name == "catch" and rec["attention"].shape[1]:
    result = interpret.ball_following(agent, params, seed=_SEED.value)
    written.append(os.path.join(out_dir, "follows_ball.json"))
    write_json_atomic(written[-1], dict(frames=frames, workdir=_WORKDIR.value, **result))
    print(json.dumps(result, indent=1))
    title = "Catch-as-frames: does the attention follow the ball?"
    paper = "Fig. 2: heads attend key sprites (player, enemies) and follow them"
  else:
    peaks = rec["attention"].reshape(n, rec["attention"].shape[1], -1).max(-1)
    result = dict(steps=n, reward_in_play=float(np.sum(rec["reward"])),
                  **{f"peak_weight_h{i}": float(v) for i, v in enumerate(peaks.mean(0))})
    title = f"{config.env_name}: attention pictures"
    paper = "Figs. 2, 5, 6, 12: attention, what/where, saliency, marginals"
  if _RECORD.value:
    write_record(_RECORD.value, frames, title, paper, result, written)
  print("wrote " + ", ".join(written), flush=True)


if __name__ == "__main__":
  app.run(lambda argv: run_main(main, argv))
