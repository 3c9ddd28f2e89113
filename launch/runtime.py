"""What every long-running job shares: progress lines, metrics files, checkpoints, config guards.

Used by `launch.mnist`, `launch.catch` and `launch.atari`, so that all of them print the same
progress line, write the same `metrics.jsonl`, and resume the same way from a workdir.
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Mapping, NamedTuple

import atexit
import socket

import jax
import numpy as np
import orbax.checkpoint as ocp
import tensorboardX
from absl import flags
from ml_collections import ConfigDict


class UsageError(Exception):
  """A problem the user can fix (bad config, missing data). Launchers print it without a traceback."""


class Stopped(Exception):
  """A run stopped on request (Ctrl-C, SIGTERM) after saving its checkpoint; exit status 130."""


STOPPED_EXIT_CODE = 130  # The shell's status for a job ended by Ctrl-C.


def run_main(main_fn, argv):
  """Runs `main_fn(argv)`, turning a `UsageError` into one clear line and exit status 2."""
  try:
    main_fn(argv)
  except UsageError as e:
    print(f"error: {e}", flush=True)
    raise SystemExit(2) from None
  except Stopped as e:
    print(str(e), flush=True)
    raise SystemExit(STOPPED_EXIT_CODE) from None


class StopSignal:
  """Ctrl-C or SIGTERM (a preempted job) asks a training loop to checkpoint and stop.

  The loop polls `requested` once per step, so the state it saves is whole; a second Ctrl-C aborts
  at once. Installed only in single-process runs: in a multi-process job one process leaving early
  would leave the others waiting in a collective, so those keep the default (the periodic
  checkpoint bounds the loss).
  """

  def __init__(self):
    self.requested = False
    self._previous = {}

  def __enter__(self):
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.requested:
      raise KeyboardInterrupt
    self.requested = True
    print(f"\n{signal.Signals(signum).name}: saving a checkpoint and stopping (again to abort)",
          flush=True)

  def __exit__(self, *exc_info):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}


class LoopControl:
  """When a training loop evaluates, checkpoints and stops: the one protocol of `launch.mnist`,
  `launch.catch`, `launch.classify` and the IMPALA `Trainer.run` (whose steps are frames).

  After each step the loop calls `after(step)`, which returns what to do now:
    evaluate    every `eval_every_steps` steps, except the last (the loop's final evaluation);
    checkpoint  every `checkpoint_every_s` seconds, at the last step, and when stopping;
    wait        the checkpoint must be on disk before going on (last step or stopping);
    stop        `stop_at` reached (tests: as a kill after that checkpoint) or Ctrl-C/SIGTERM;
    done        the last step, `max_seconds` spent, or `after(step, finished=True)`: the loop met
                its own goal early (the IMPALA trainer's `stop_return`); it ends normally;
    finished    the `finished` that decided it (process 0's), so the loop can report it.
  A loop that stops closes its writers and, on a signal, raises `Stopped` (`stopped_message`).
  With several processes every decision is process 0's, so collective saves and exits match.
  """

  class Actions(NamedTuple):
    evaluate: bool
    checkpoint: bool
    wait: bool
    stop: bool
    done: bool = False
    finished: bool = False

  def __init__(self, total_steps: int, eval_every_steps: int, checkpoint_every_s: float,
               stop_signal: "StopSignal", stop_at: int | None = None, clock=time.time,
               max_seconds: float | None = None):
    self.total_steps, self.eval_every_steps = total_steps, eval_every_steps
    self.checkpoint_every_s, self.stop_signal, self.stop_at = checkpoint_every_s, stop_signal, stop_at
    self._clock = clock
    self._last_checkpoint = self._start = clock()
    self.max_seconds = max_seconds

  def after(self, step: int, finished: bool = False) -> "LoopControl.Actions":
    requested = self.stop_signal.requested
    now = self._clock()
    overdue = now - self._last_checkpoint >= self.checkpoint_every_s
    out_of_time = self.max_seconds is not None and now - self._start >= self.max_seconds
    if jax.process_count() > 1:  # Saves are collective: every process acts on process 0's clock.
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      overdue, requested, finished, out_of_time = (
          bool(x) for x in multihost_utils.broadcast_one_to_all(
              np.array([overdue, requested, finished, out_of_time])))
    done = step >= self.total_steps or finished or out_of_time
    stop = not done and (step == self.stop_at or requested)
    evaluate = bool(self.eval_every_steps) and step % self.eval_every_steps == 0 and not done
    checkpoint = done or stop or overdue
    if checkpoint:
      self._last_checkpoint = self._clock()
    return self.Actions(evaluate, checkpoint, wait=done or stop, stop=stop, done=done,
                        finished=finished)

  def stopped_message(self, step: int) -> str | None:
    """The `Stopped` message when a signal stopped the loop (None when `stop_at` did)."""
    if self.stop_signal.requested:
      return f"stopped at step {step}; re-run the same command to resume."
    return None


def run_child(command: list[str]) -> int:
  """Runs a training command (`launch.reproduce`, `launch.search_ram`) and returns its exit code.

  SIGINT/SIGTERM sent to this process (Ctrl-C, or `kill` on it alone) are passed to the child,
  which checkpoints and exits with `STOPPED_EXIT_CODE`. The child has its own session, so a
  terminal's Ctrl-C reaches it once, through here, not twice (a second signal aborts it).
  """
  child = subprocess.Popen(command, start_new_session=True)
  previous = {}
  if threading.current_thread() is threading.main_thread():
    for sig in (signal.SIGINT, signal.SIGTERM):
      previous[sig] = signal.signal(sig, lambda signum, frame: child.send_signal(signum))
  try:
    return child.wait()
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)


def parse_flags(argv):
  """absl flag parsing, but a mistyped `--config.FIELD` (or a bad config argument) is one line.

  ml_collections raises AttributeError/KeyError/ValueError from deep inside absl for those, which
  absl would print as a three-part traceback.
  """
  prefix = ""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
  except (AttributeError, KeyError) as e:
    prefix, message = "unknown config field ", str(e)
  except (ValueError, TypeError) as e:
    message = str(e)
  lines = [l.strip(" '\"\\") for l in re.split(r"\\n|\n", message) if l.strip(" '\"\\")]
  if "Traceback" in message:  # An error raised inside the config file: its last line says it.
    lines = lines[-1:]
  message = prefix + " ".join(lines)
  print(f"error: bad flag: {message} (the config file lists every field)", file=sys.stderr)
  raise SystemExit(2)


def init_distributed(config):
  """jax.distributed.initialize when asked; must run before anything touches a JAX device."""
  d = config.distributed
  if not d.enabled:
    return
  # CPU collectives across processes (tests, CPU clusters); GPU/TPU ignore this setting.
  jax.config.update("jax_cpu_collectives_implementation", d.cpu_collectives)
  kwargs = {}
  if d.coordinator_address:
    kwargs = dict(coordinator_address=d.coordinator_address, num_processes=d.num_processes,
                  process_id=d.process_id)
    if d.num_processes < 1 or not 0 <= d.process_id < d.num_processes:
      raise UsageError(
          f"distributed.num_processes={d.num_processes}, process_id={d.process_id}: need "
          "num_processes >= 1 and 0 <= process_id < num_processes.")
  jax.distributed.initialize(**kwargs)


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

  Only process 0 writes, so multi-host runs produce one log.
  """

  def __init__(self, workdir: str | None, total_steps: int, start_step: int = 0,
               unit: str = "images", every_s: float = 10.0):
    self.total_steps = total_steps
    self.unit = unit
    self.every_s = every_s
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
    eta = (self.total_steps - step) / steps_per_s if steps_per_s > 0 else float("inf")
    shown = {k: float(v) for k, v in (metrics or {}).items()}
    if self._is_writer:
      parts = " ".join(f"{k}={v:.4g}" for k, v in shown.items())
      print(f"[step {step}/{self.total_steps}] {parts} {self.unit}/s={rate:,.0f} "
            f"ETA={format_eta(eta)}", flush=True)
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


# Config fields that may change between a run and its resumption without changing the model.
RESUMABLE_FIELDS = frozenset({
    "workdir", "data_dir", "num_train_steps", "total_frames", "log_every_s", "checkpoint_every_s",
    "eval_every_steps", "allow_config_change", "progress_every_s", "num_eval_episodes",
    "stop_return", "eval_batch_size", "num_eval_examples",
})
# Where and how many processes run may change between a run and its resumption.
RESUMABLE_PREFIXES = ("distributed.",)


def guard_config(workdir: str, config: ConfigDict, added_fields: dict | None = None):
  """Stores the config in `workdir/config.json`; refuses to resume under a different model config.

  Fields in `RESUMABLE_FIELDS` (paths, run length, logging) may change freely. Anything else
  differing from the stored config raises `UsageError`, unless `config.allow_config_change`.
  `added_fields` maps fields added after a workdir may have been made to the value that gives the
  behaviour of the code before them, which a stored config without the field is taken to hold.
  Nested configs are compared field by field ('agent.core_lstm'), so the error names the field.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  current_tree = json.loads(config.to_json_best_effort())
  if os.path.exists(path) and jax.process_index() == 0:
    current = _flatten(current_tree)
    # Only fields this config has: the tiny Catch agent has no ConvLSTM options, say.
    added = {k: v for k, v in (added_fields or {}).items() if k in current}
    with open(path) as f:
      stored = {**added, **_flatten(json.load(f))}
    changed = sorted(k for k in set(stored) | set(current)
                     if k not in RESUMABLE_FIELDS and not k.startswith(RESUMABLE_PREFIXES)
                     and stored.get(k) != current.get(k))
    if changed and not config.get("allow_config_change", False):
      details = ", ".join(f"{k}: {stored.get(k)!r} -> {current.get(k)!r}" for k in changed)
      raise UsageError(
          f"workdir {workdir} holds a run with a different config ({details}). Use a new "
          "--config.workdir, or pass --config.allow_config_change=True to resume anyway.")
  if jax.process_index() == 0:
    write_json_atomic(path, current_tree)


def _flatten(tree: dict, prefix: str = "") -> dict:
  """{'agent': {'kind': 's3ta'}} -> {'agent.kind': 's3ta'}."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


LOCK_FILE = "writer.lock"


def claim_workdir(workdir: str) -> None:
  """Makes this process the only writer of `workdir` until it exits (process 0 of a multi-host
  run claims it for all processes).

  A lock file names the writer's host and PID. A lock left by a dead process on this host (a run
  killed with -9) is taken over; a live writer, or one on another host, is a UsageError.
  """
  if jax.process_index() != 0:
    return
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, LOCK_FILE)
  me = {"host": socket.gethostname(), "pid": os.getpid()}
  while True:
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
      try:
        with open(path) as f:
          owner = json.load(f)
      except (OSError, ValueError):  # Half-written by a process that died mid-claim.
        owner = {"host": me["host"], "pid": -1}
      if owner == me:
        return
      if owner.get("host") != me["host"] or _pid_alive(owner.get("pid", -1)):
        raise UsageError(
            f"{workdir} is in use by pid {owner.get('pid')} on {owner.get('host')}; stop that run "
            f"or use another --workdir (delete {path} if that run is gone).") from None
      os.remove(path)  # Its writer is dead: take over.
      continue
    with os.fdopen(fd, "w") as f:
      json.dump(me, f)
    atexit.register(_release, path, me)
    return


def _pid_alive(pid: int) -> bool:
  if pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, owned by someone else.
    return True
  return True


def _release(path: str, me: dict) -> None:
  try:
    with open(path) as f:
      if json.load(f) == me:
        os.remove(path)
  except (OSError, ValueError):
    pass


def write_json_atomic(path: str, value) -> None:
  """Writes JSON to a temporary file and renames it: a killed process never leaves half a file."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


class NoCheckpointError(FileNotFoundError):
  """The workdir has no checkpoint to restore (yet)."""


class Checkpointer:
  """Atomic, resumable checkpoints of an arbitrary pytree of arrays (orbax).

  Orbax writes each step to a temporary directory and renames it when complete, so a run
  killed mid-save keeps its previous checkpoint. `restore` needs a pytree of the same
  structure (e.g. the freshly initialised state) to know shapes and dtypes. With
  `with_data_state`, each checkpoint also holds a JSON dict beside the arrays (the input
  iterators' state in `launch.classify`).
  """

  def __init__(self, workdir: str, max_to_keep: int = 2, with_data_state: bool = False):
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self._with_data = with_data_state
    self._manager = ocp.CheckpointManager(
        self.directory, item_names=("state", "data") if with_data_state else None,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state: Any, wait: bool = False, data_state: dict | None = None):
    arrays = ocp.args.StandardSave(jax.device_get(state))
    if self._with_data:
      args = ocp.args.Composite(state=arrays, data=ocp.args.JsonSave(data_state or {}))
    else:
      args = arrays
    self._manager.save(int(step), args=args, force=True)
    if wait:
      self._manager.wait_until_finished()

  def restore(self, like: Any, step: int | None = None, with_data_state: bool = False) -> Any:
    """The arrays (shaped like `like`), and the data state too when `with_data_state`."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise NoCheckpointError("has no checkpoint yet; let the run save one first.")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, jax.device_get(like))
    if not self._with_data:
      return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    out = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
    return (out["state"], out["data"]) if with_data_state else out["state"]

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()


def read_workdir_config(workdir: str) -> ConfigDict:
  """The `config.json` every launch writes into its workdir (see `guard_config`)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise UsageError(f"{path} not found; pass the workdir of a training run.")
  with open(path) as f:
    return ConfigDict(json.load(f))


def load_workdir(workdir: str, restore: Callable[[ConfigDict, "Checkpointer"], Any],
                 mismatch: Callable[[ConfigDict], str | None],
                 with_data_state: bool = False) -> Any:
  """`restore(config, checkpointer)` on a workdir's config and checkpoints: the one loader of
  the evaluation and picture entry points. A run of another kind (`mismatch(config)` returns a
  reason, worded to follow the workdir's name) or one with no checkpoint yet is one
  `UsageError`; any other error inside `restore` is a bug and keeps its traceback."""
  config = read_workdir_config(workdir)
  reason = mismatch(config)
  if reason:
    raise UsageError(f"{workdir} {reason}")
  checkpointer = Checkpointer(workdir, with_data_state=with_data_state)
  try:
    return restore(config, checkpointer)
  except NoCheckpointError as e:
    raise UsageError(f"{workdir} {e}") from None
  finally:
    checkpointer.close()


def restore_atari_workdir(workdir: str):
  """(config, agent, params, frames) of a launch.atari workdir's latest checkpoint."""
  from s3ta_jax.impala import workdir as workdir_lib
  return load_workdir(workdir, workdir_lib.restore, workdir_lib.mismatch)
