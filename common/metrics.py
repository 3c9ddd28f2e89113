"""The progress line every training loop prints, and the metrics it keeps: one JSON line per record
in `workdir/metrics.jsonl` and the same scalars as TensorBoard events in `workdir`."""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import tensorboardX


def format_eta(seconds: float) -> str:
  if not math.isfinite(seconds) or seconds < 0:
    return "?"
  seconds = int(seconds)
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class Progress:
  """Prints one progress line per `every_s` seconds and appends metrics to `workdir/metrics.jsonl`
  and to TensorBoard event files in `workdir` (`tensorboard --logdir workdirs/`).

  The line holds what a person reads: how far (`counter`: steps, or frames for IMPALA), how fast
  (`unit`/s), the ETA and the `headline` metrics (metric name -> label: the return, or the loss);
  every metric goes to metrics.jsonl and TensorBoard. Only process 0 writes, so multi-host runs
  produce one log.
  """

  def __init__(self, workdir: str | None, total_steps: int, start_step: int = 0,
               unit: str = "images", every_s: float = 10.0, counter: str = "step",
               headline: Mapping[str, str] | None = None):
    self.total_steps = total_steps
    self.unit = unit
    self.every_s = every_s
    self.counter = counter
    self.headline = dict(headline or {})
    self._is_writer = jax.process_index() == 0
    self._metrics_file = None
    if workdir and self._is_writer:
      os.makedirs(workdir, exist_ok=True)
      self._metrics_file = open(os.path.join(workdir, "metrics.jsonl"), "a")
      self._events = tensorboardX.SummaryWriter(workdir, flush_secs=10)
    self._last_time = time.time()
    self._last_step = start_step
    self._last_items = 0.0
    self._items = 0.0
    self._last_print = 0.0

  def update(self, step: int, items: float, metrics: Mapping[str, Any] | None = None,
             force: bool = False) -> float | None:
    """Records that `items` more units were processed by `step`. Returns the rate when printed."""
    self._items += items
    now = time.time()
    if not force and now - self._last_print < self.every_s:
      return None
    elapsed = max(now - self._last_time, 1e-9)
    rate = (self._items - self._last_items) / elapsed
    steps_per_s = (step - self._last_step) / elapsed
    remaining = max(self.total_steps - step, 0)
    eta = remaining / steps_per_s if steps_per_s > 0 else (0.0 if not remaining else float("inf"))
    shown = {k: float(v) for k, v in (metrics or {}).items()}
    if self._is_writer:
      parts = [f"{self.counter} {step:,}/{self.total_steps:,}", f"{rate:,.0f} {self.unit}/s",
               f"ETA {format_eta(eta)}"]
      parts += [f"{label} {shown[name]:.4g}" for name, label in self.headline.items()
                if name in shown]
      print(" | ".join(parts), flush=True)
    self.write(step, {**shown, f"{self.unit}_per_s": rate})
    self._last_time, self._last_step, self._last_items, self._last_print = now, step, self._items, now
    return rate

  def write(self, step: int, metrics: Mapping[str, Any]):
    """Appends one JSON line of metrics (e.g. evaluation results) for `step`."""
    if self._metrics_file is None:
      return
    record = {"step": int(step), "time": time.time(),
              **{k: float(np.asarray(v)) for k, v in metrics.items()}}
    self._metrics_file.write(json.dumps(record) + "\n")
    self._metrics_file.flush()
    for name, value in record.items():
      if name not in ("step", "time") and math.isfinite(value):
        self._events.add_scalar(name, value, global_step=int(step), walltime=record["time"])

  def close(self):
    if self._metrics_file is not None:
      self._metrics_file.close()
      self._events.close()
      self._metrics_file = None


class MetricMeans:
  """Per-step metrics summed since the last `take()`, with the items (images, frames) processed.

  The sums stay device arrays: adding them does not wait for the step, so steps stay pipelined
  until a progress line reads them.
  """

  def __init__(self):
    self._sums, self._count, self._items = None, 0, 0

  def add(self, metrics: Mapping[str, Any], items: float):
    self._sums = metrics if self._sums is None else jax.tree.map(jnp.add, self._sums, metrics)
    self._count += 1
    self._items += items

  def mean(self, name: str) -> float:
    return float(jax.device_get(self._sums[name])) / self._count

  def take(self) -> tuple[dict[str, float], float]:
    """(the mean of each metric, the items) since the last take; then starts over."""
    means = {k: float(v) / self._count for k, v in jax.device_get(self._sums).items()}
    items = self._items
    self._sums, self._count, self._items = None, 0, 0
    return means, items


def step_progress(config, start_step: int, headline: Mapping[str, str]) -> Progress:
  """The progress of a run counted in steps to `config.num_train_steps`, printed every
  `config.progress_every_s`, in `config.workdir`."""
  return Progress(config.workdir, config.num_train_steps, start_step=start_step,
                  every_s=config.progress_every_s, headline=headline)


def read_metrics(workdir: str) -> list[dict]:
  """Reads `workdir/metrics.jsonl` (for plots and reports)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def after_resumes(records: list[dict]) -> list[dict]:
  """Drops lines a killed run logged after its last checkpoint: the resumed run redoes those steps."""
  kept = []
  for r in records:
    while kept and kept[-1]["step"] >= r["step"]:
      kept.pop()
    kept.append(r)
  return kept
