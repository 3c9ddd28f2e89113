"""Pictures of what a trained Atari / Catch agent attends to (Mott et al. 2019, section 4.1), and
Fig. 7 for a classifier; `python -m launch.visualize_s3ta` calls `draw`.

For an Atari or Catch workdir, plays `steps` steps (greedy, or sampled from the policy) from the
latest checkpoint and writes into `out_dir` (default WORKDIR/figures):
  attention.mp4      one panel per head: the frame, bright where that head attends (Fig. 2), then
                     per head its what/where contribution (eq. 11: red = content, blue = space,
                     Fig. 5); action and value on top. `attention.gif` when no MP4 encoder is
                     installed (`pip install -e ".[video]"` adds imageio-ffmpeg).
  what_where.png     frames x heads of the attention and the what/where maps (Fig. 5 layout).
  marginals.png      per head, the row and column sums of the maps at the chosen frames (Fig. 12).
  saliency.png       perturbation saliency (Greydanus et al. 2017, Fig. 6) of the policy and the
                     value beside the attention, and of a baseline workdir's agent if given.
  follows_ball.json  (Catch) distance in cells from the most peaked head's peak to the ball, against
                     a uniform map and the best fixed map, and whether the peak moves when the
                     ball is moved in the frame (`s3ta_jax.interpret.ball_following`).
A launch.classify workdir instead gets `steps.png`: Fig. 7's layout for the first `stills`
evaluation images (the image, each step's attention, each step's class probabilities). With a
record path, what was drawn and measured is also written as a run record, listed in
docs/results.md.
"""
from __future__ import annotations

import json
import os
import platform
import time

import matplotlib
import numpy as np

matplotlib.use("Agg")  # Files only; no display on servers.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from common.errors import UsageError
from common.metrics import read_metrics
from common.workdir import write_json_atomic
from s3ta_jax import interpret
from s3ta_jax.impala import levels as levels_lib
from s3ta_jax.impala import workdir as atari_workdir


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


def _record_fields(record_path: str, workdir: str, command: str, written: list[str]) -> dict:
  """What every picture record holds besides its measurements: how the agent was trained and
  drawn, the figures (relative to docs/, where results.md links from), machine and date."""
  docs = os.path.dirname(os.path.dirname(os.path.abspath(record_path)))  # docs/run_records/X
  return dict(train_command=train_command(workdir), command=command,
              figures=[os.path.relpath(os.path.abspath(p), docs) for p in written],
              machine=f"{platform.machine()} {os.cpu_count()} cores",
              date=time.strftime("%Y-%m-%d"))


def train_command(workdir: str) -> str | None:
  """The command that trained the run in `workdir` (its `command.json`), or None."""
  launched = os.path.join(workdir, "command.json")
  if not os.path.exists(launched):
    return None
  with open(launched) as f:
    return "python " + " ".join(json.load(f)["command"][1:])


def draw_classifier(workdir: str, out_dir: str, stills: int, record_path: str | None = None,
                    command: str = "") -> list[str]:
  """Fig. 7 for a launch.classify workdir (`stills` evaluation images), and its run record."""
  from s3ta_jax import classify_loop, input_pipeline  # pylint: disable=g-import-not-at-top
  config, pipeline, model, state = classify_loop.load_workdir(workdir)
  batch = next(input_pipeline.eval_batches(pipeline, stills))
  with classify_loop.tfds_mock(config):
    out = model.apply({"params": state["params"], "batch_stats": state["batch_stats"]},
                      batch["image"])
  written = [os.path.join(out_dir, "steps.png")]
  interpret.classifier_steps_figure(batch["image"], np.asarray(out.attention),
                                    np.asarray(out.step_logits), batch["label"], written[0],
                                    list(pipeline.class_names) or None)
  if record_path:
    results_path = os.path.join(workdir, "results.json")
    if not os.path.exists(results_path):
      raise UsageError(f"{results_path} not found: --record needs a finished run.")
    with open(results_path) as f:
      results = json.load(f)
    wall = read_metrics(workdir)
    write_json_atomic(record_path, dict(
        kind="s3ta_classifier",
        title=f"S3TA classifier ({config.model.kind}), {results['dataset']}, "
              f"T={results['sequence_length']}",
        value=results["top1_error"], results=results,
        wall_s=(wall[-1]["time"] - wall[0]["time"]) if len(wall) > 1 else None,
        **_record_fields(record_path, workdir, command, written)))
    written.append(record_path)
  return written


def _is_classifier(workdir: str) -> bool:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return "dataset" in json.load(f)


def draw(workdir: str, out_dir: str | None = None, steps: int = 300, stills: int = 6,
         fps: int = 15, seed: int = 0, scale: int = 3, baseline_workdir: str | None = None,
         record_path: str | None = None, command: str = "", greedy: bool = True) -> list[str]:
  """Writes the pictures of a launch.atari (or launch.classify) workdir (module docstring) into
  `out_dir` (default WORKDIR/figures) and, with `record_path`, the run record, whose `command`
  says how they were drawn. Returns the paths written."""
  out_dir = out_dir or os.path.join(workdir, "figures")
  os.makedirs(out_dir, exist_ok=True)
  if _is_classifier(workdir):
    return draw_classifier(workdir, out_dir, stills, record_path, command)
  config, agent, params, frames = atari_workdir.load(workdir)
  levels_lib.require_single_level(config, "launch.visualize_s3ta")
  n = steps
  shown = sorted(set(np.linspace(n // 10, n - 1, stills).astype(int).tolist()))
  print(f"{config.env_name} after {frames:,} frames: playing {n} "
        f"{'greedy' if greedy else 'sampled'} steps", flush=True)
  rec = interpret.record(agent, params, config.env_name, n, seed=seed, greedy=greedy,
                         saliency_steps=tuple(shown))
  recs = {agent.config.kind: rec}
  if baseline_workdir:
    b_config, b_agent, b_params, _ = atari_workdir.load(baseline_workdir)
    if b_config.env_name != config.env_name:
      raise UsageError(f"--baseline_workdir plays {b_config.env_name}, not {config.env_name}")
    recs[f"baseline {b_agent.config.kind}"] = interpret.record(
        b_agent, b_params, config.env_name, n, seed=seed, greedy=greedy, saliency_steps=tuple(shown))
  written = []
  if rec["attention"].shape[1]:
    written.append(interpret.write_video(interpret.video_frames(rec, scale), out_dir, fps))
    written.append(os.path.join(out_dir, "what_where.png"))
    plot_what_where(rec, shown, written[-1])
    written.append(os.path.join(out_dir, "marginals.png"))
    plot_marginals(rec, shown, written[-1])
  written.append(os.path.join(out_dir, "saliency.png"))
  plot_saliency(recs, shown, written[-1])
  if config.env_name == "catch" and rec["attention"].shape[1]:
    result = interpret.ball_following(agent, params, seed=seed)
    written.append(os.path.join(out_dir, "follows_ball.json"))
    write_json_atomic(written[-1], dict(frames=frames, workdir=workdir, **result))
    print(json.dumps(result, indent=1))
    title = "Catch-as-frames: does the attention follow the ball?"
    paper = "Fig. 2: heads attend key sprites (player, enemies) and follow them"
  else:
    peaks = rec["attention"].reshape(n, rec["attention"].shape[1], -1).max(-1)
    result = dict(steps=n, reward_in_play=float(np.sum(rec["reward"])),
                  **{f"peak_weight_h{i}": float(v) for i, v in enumerate(peaks.mean(0))})
    title = f"{config.env_name}: attention pictures"
    paper = "Figs. 2, 5, 6, 12: attention, what/where, saliency, marginals"
  if record_path:
    write_json_atomic(record_path, dict(
        kind="s3ta_check", title=title, paper=paper, frames=frames, measured=result,
        **_record_fields(record_path, workdir, command, written)))
    written.append(record_path)
  return written
