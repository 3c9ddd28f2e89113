"""Trains S3TA (or a baseline) on Atari with the IMPALA actor-learner (Mott et al. 2019, section
4.1) in a workdir, resuming from its last checkpoint: `python -m launch.atari` calls `train`.

Prints a progress line every `log_every_s` (frames, frames/s, ETA, the mean return of the last
100 games, or in a multi-level run their mean capped human-normalised score; `metrics.jsonl` and
TensorBoard get it with the learner's losses, gradient norm, attention sharpness, queue fill,
actor frames and per-level returns and scores), checkpoints (params, optimizer state, frame
count) every `checkpoint_every_s` and at the end. Multi-host: `config.distributed`
(WORKSPACE.md); the recent games, and so the progress and a PBT member's fitness, are every
process's (`gather_games`).
"""
from __future__ import annotations

import collections
import os
import time

import jax
import numpy as np

from common import loop
from common.checkpoint import Checkpointer
from common.distributed import init_distributed
from common.errors import UsageError
from common.metrics import Progress
from common.workdir import claim_workdir, guard_config, write_json_atomic
from s3ta_jax.impala import levels as levels_lib
from s3ta_jax.impala import migrate, system
from s3ta_jax.impala.env_types import ACTION_REPEAT
from s3ta_jax.impala.learner import to_local


def train(config, stop_return: float | None = None, max_seconds: float | None = None,
          command: list[str] | None = None) -> dict:
  """Runs (or resumes) training in `config.workdir`; returns the summary of `run`. `command`
  (the launch's argv) is kept in `command.json` for run records."""
  if not config.workdir:
    raise UsageError("config.workdir is empty; pass --config.workdir=DIR "
                     "(e.g. workdirs/s3ta_breakout).")
  init_distributed(config)
  claim_workdir(config.workdir)
  guard_config(config.workdir, config, migrate.config)
  if command and jax.process_index() == 0:  # How this run was made, for records and pictures.
    write_json_atomic(os.path.join(config.workdir, "command.json"), {"command": command})
  try:
    trainer = system.Trainer(config, Checkpointer(config.workdir))
  except ValueError as e:  # Config problems: one line naming the field and the fix.
    raise UsageError(str(e)) from None
  print(f"env={config.env_name} agent={trainer.agent_config.kind} (frames "
        f"{trainer.frame_shape[0]}x{trainer.frame_shape[1]}) actions={trainer.num_actions} "
        f"learner devices={trainer.learner.num_devices} processes={jax.process_count()}",
        flush=True)
  threshold = config.stop_return if stop_return is None else stop_return
  progress = Progress(config.workdir, config.total_frames, start_step=trainer.frames,
                      unit="frames", every_s=0.0, counter="frames",
                      headline={"capped_hns_mean": "mean capped human-normalised score"}
                      if config.levels else {"return_mean": "return (last 100 games)"})
  try:
    with loop.StopSignal() as stop_signal:
      control = loop.LoopControl(config.total_frames, eval_every_steps=0,
                                 checkpoint_every_s=config.checkpoint_every_s,
                                 stop_signal=stop_signal, max_seconds=max_seconds)
      summary = run(trainer, control, progress,
                    stop_return=threshold if threshold > -1e8 else None)
  finally:
    progress.close()
  print(f"done: {summary['frames']:,} frames, {summary['steps']} learner steps in "
        f"{summary['seconds']:.0f}s, mean return (last 100 games) {summary['return_mean']:.3g}",
        flush=True)
  return summary


class RecentGames:
  """The returns of the last `window` games, overall and per level (a multi-level run)."""

  def __init__(self, window: int = 100):
    self.all = collections.deque(maxlen=window)
    self.by_level = collections.defaultdict(lambda: collections.deque(maxlen=window))

  def add(self, returns, levels):
    self.all.extend(returns)
    for value, level in zip(returns, levels):
      if level is not None:
        self.by_level[level].append(value)

  def to_dict(self) -> dict:
    return dict(all=list(self.all), by_level={k: list(v) for k, v in self.by_level.items()})

  @classmethod
  def from_dict(cls, d: dict | None, window: int = 100) -> "RecentGames":
    games = cls(window)
    if d:
      games.all.extend(d["all"])
      for level, returns in d["by_level"].items():
        games.by_level[level].extend(returns)
    return games


def gather_games(returns: list[float], levels: list[str | None],
                 level_names: list[str]) -> tuple[list[float], list[str | None]]:
  """Every process's newly finished games (returns, levels), in process order, on every process:
  a multi-process run spreads the levels over processes, and its progress and fitness must cover
  them all. Called at every update on every process: one small all-gather of the counts, two
  more when any process has games."""
  if jax.process_count() == 1:
    return list(returns), list(levels)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  counts = multihost_utils.process_allgather(np.array([len(returns)], np.int32))[:, 0]
  width = int(counts.max())
  if width == 0:
    return [], []
  padded = np.zeros(width, np.float32)
  padded[:len(returns)] = returns
  codes = np.full(width, -1, np.int32)  # -1: a single-level run's game (no level).
  codes[:len(levels)] = [-1 if level is None else level_names.index(level) for level in levels]
  all_returns = multihost_utils.process_allgather(padded)
  all_codes = multihost_utils.process_allgather(codes)
  out_returns, out_levels = [], []
  for process, count in enumerate(counts):
    out_returns += [float(v) for v in all_returns[process, :count]]
    out_levels += [None if code < 0 else level_names[code] for code in all_codes[process, :count]]
  return out_returns, out_levels


def run(trainer: system.Trainer, control: loop.LoopControl | None = None,
        progress: Progress | None = None, stop_return: float | None = None,
        games: RecentGames | None = None, shutdown: bool = True) -> dict:
  """Trains until `control` says done (its frames, or its time, spent; or a mean return of the
  last 100 `games` >= `stop_return`) or stop (Ctrl-C/SIGTERM: raises `Stopped` after
  the checkpoint). Decisions are process 0's on every process, so collective saves and exits
  match. Without `control`, trains to `config.total_frames`, checkpointing every
  `checkpoint_every_s`. `games` carries the recent games across calls and `shutdown=False`
  keeps the actors playing (a PBT member trains in chunks). Returns a summary.
  """
  c = trainer.config
  if control is None:
    control = loop.LoopControl(c.total_frames, 0, c.checkpoint_every_s, stop_signal=None)
  games = games or RecentGames()
  recent, by_level = games.all, games.by_level
  level_names = levels_lib.parse_levels(c.levels)
  start = time.time()
  last = {"metrics": None, "time": start, "step": trainer.step}  # At the last progress line.

  def step_fn(frames):
    del frames
    last["metrics"] = trainer.update(*trainer.next_batch_everywhere())
    returns, _, levels = trainer.episodes.drain()
    games.add(*gather_games(returns, levels, level_names))
    reached = (stop_return is not None and len(recent) == recent.maxlen
               and bool(np.mean(recent) >= stop_return))
    return trainer.frames, reached

  def report(frames):
    if progress is None:
      return
    now = time.time()
    shown = progress_metrics(trainer, to_local(last["metrics"]),
                             (trainer.step - last["step"]) / (now - last["time"]), recent,
                             by_level)
    progress.update(frames, trainer.frames_per_update * (trainer.step - last["step"]), shown,
                    force=True)
    last.update(time=now, step=trainer.step)

  if not trainer.actors:
    trainer.start_actors()
  try:
    outcome = loop.run(control, trainer.frames, step_fn, report=report,
                       report_every_s=c.log_every_s,
                       save=lambda frames, wait: trainer.save(wait=wait))
  finally:
    if shutdown:
      trainer.shutdown()
  summary = dict(frames=trainer.frames, steps=trainer.step, seconds=time.time() - start,
                 return_mean=float(np.mean(recent)) if recent else float("nan"),
                 reached=outcome.finished)
  if by_level:
    summary.update(capped_hns_mean=levels_lib.mean_capped_score(level_means(by_level)))
  return summary


def level_means(by_level: dict) -> dict[str, float]:
  """Each level's mean return over its recent games, in level order."""
  return {level: float(np.mean(games)) for level, games in sorted(by_level.items())}


def progress_metrics(trainer, metrics: dict, learner_steps_per_s: float, recent,
                     by_level: dict | None = None) -> dict:
  """What a progress line records of the latest update: losses per transition, gradient norm,
  each head's attention sharpness, the learner's pace and the return of the recent games (in a
  multi-level run also per level, with its capped human-normalised score, and their mean)."""
  c = trainer.config
  attention_max = metrics.pop("attention_max") / metrics["attention_count"]
  attention_entropy = metrics.pop("attention_entropy") / metrics["attention_count"]
  m = {k: float(v) for k, v in metrics.items()}
  n = c.batch_size * c.unroll_length
  shown = dict(loss=m["loss"] / n, pg_loss=m["pg_loss"] / n,
               baseline_loss=m["baseline_loss"] / n, entropy=m["entropy"] / n,
               value_spread=m["value_spread"] / n, grad_norm=m["grad_norm"],
               learner_steps_per_s=learner_steps_per_s,
               queue_fill=trainer.queue.qsize() / max(c.queue_size, 1),
               actor_frames=sum(a.env_steps for a in trainer.actors) * ACTION_REPEAT)
  if attention_max.size:  # Per head: 1/(h*w) is uniform, 1 is one-hot.
    shown.update({f"attention_max_h{i}": v for i, v in enumerate(attention_max)})
    shown.update(attention_entropy=float(np.mean(attention_entropy)))
  if recent:
    shown.update(return_mean=float(np.mean(recent)), return_median=float(np.median(recent)),
                 episodes=len(recent))
  if by_level:
    means = level_means(by_level)
    shown.update({f"return_mean/{level}": v for level, v in means.items()})
    shown.update({f"capped_hns/{level}": v
                  for level, v in levels_lib.capped_scores(means).items()})
    shown.update(capped_hns_mean=levels_lib.mean_capped_score(means))
  return shown
