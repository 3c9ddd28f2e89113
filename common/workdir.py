"""A run's working directory: one writer at a time, the config it was made with (and the guard
that refuses to resume it under another model), and reading a run back for evaluation."""
from __future__ import annotations

import atexit
import copy
import json
import os
import socket
from typing import Any, Callable

import jax
from ml_collections import ConfigDict

from common.checkpoint import Checkpointer, NoCheckpointError
from common.errors import UsageError

# Config fields that may change between a run and its resumption without changing the model.
RESUMABLE_FIELDS = frozenset({
    "workdir", "data_dir", "num_train_steps", "total_frames", "log_every_s", "checkpoint_every_s",
    "eval_every_steps", "allow_config_change", "progress_every_s", "num_eval_episodes",
    "stop_return", "eval_batch_size", "num_eval_examples",
})
# Where and how many processes run may change between a run and its resumption.
RESUMABLE_PREFIXES = ("distributed.",)


def read_json(path: str) -> Any:
  """The JSON value in `path`, or None when there is no such file."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def write_json_atomic(path: str, value) -> None:
  """Writes JSON to a temporary file and renames it: a killed process never leaves half a file."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


Migration = Callable[[dict], dict]  # A stored config.json, as today's code reads it.


def with_defaults(tree: dict, defaults: dict[str, Any]) -> dict:
  """`tree` with each dotted field of `defaults` it lacks set to the value given: fields added
  after workdirs were made, at the value that gives the code's behaviour before them."""
  tree = copy.deepcopy(tree)
  for dotted, value in defaults.items():
    *parents, name = dotted.split(".")
    node = tree
    for parent in parents:
      node = node.setdefault(parent, {})
    node.setdefault(name, value)
  return tree


def make_workdir(workdir: str) -> None:
  """Creates `workdir` if needed; a path that names a file is a usage error, not a traceback."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UsageError(f"workdir {workdir} is a file, not a directory; pass a directory as "
                     "--config.workdir (a new one starts a new run).")
  os.makedirs(workdir, exist_ok=True)


def read_stored_config(path: str) -> dict:
  """A workdir's `config.json`; one that is not JSON is a usage error naming the file."""
  try:
    with open(path) as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise UsageError(f"{path} is not valid JSON ({e}); it holds the config the run was made "
                     "with: restore it, or use another --config.workdir.") from None


def guard_config(workdir: str, config: ConfigDict, migrate: Migration | None = None):
  """Stores the config in `workdir/config.json`; refuses to resume under a different model config.

  Fields in `RESUMABLE_FIELDS` (paths, run length, logging) may change freely. Anything else
  differing from the stored config raises `UsageError`, unless `config.allow_config_change`.
  `migrate` brings a config stored by earlier code to today's fields (each config family has one:
  `ram_jax.train.migrate_config`, `s3ta_jax.supervised.migrate_config`, `s3ta_jax.impala.migrate`).
  Nested configs are compared field by field ('agent.core_lstm'), so the error names the field.
  """
  make_workdir(workdir)
  path = os.path.join(workdir, "config.json")
  current_tree = json.loads(config.to_json_best_effort())
  if os.path.exists(path) and jax.process_index() == 0:
    current = _flatten(current_tree)
    stored = read_stored_config(path)
    stored = _flatten(migrate(stored) if migrate else stored)
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
  make_workdir(workdir)
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


def read_workdir_config(workdir: str) -> ConfigDict:
  """The `config.json` every training run writes into its workdir (see `guard_config`)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise UsageError(f"{path} not found; pass the workdir of a training run.")
  return ConfigDict(read_stored_config(path))


def load_workdir(workdir: str, restore: Callable[[ConfigDict, Checkpointer], Any],
                 mismatch: Callable[[ConfigDict], str | None], migrate: Migration | None = None,
                 with_data_state: bool = False) -> Any:
  """`restore(config, checkpointer)` on a workdir's config and checkpoints: the one loader of
  the evaluation and picture entry points. A run of another kind (`mismatch(config)` returns a
  reason, worded to follow the workdir's name) or one with no checkpoint yet is one
  `UsageError`; any other error inside `restore` is a bug and keeps its traceback. `restore` sees
  the config as `migrate` brings it to today's fields."""
  config = read_workdir_config(workdir)
  reason = mismatch(config)
  if reason:
    raise UsageError(f"{workdir} {reason}")
  if migrate:
    config = ConfigDict(migrate(config.to_dict()))
  checkpointer = Checkpointer(workdir, with_data_state=with_data_state)
  try:
    return restore(config, checkpointer)
  except NoCheckpointError as e:
    raise UsageError(f"{workdir} {e}") from None
  finally:
    checkpointer.close()
