"""Atomic, resumable orbax checkpoints of a pytree of arrays, one directory per step."""
from __future__ import annotations

import os
import shutil
from typing import Any, Callable, Sequence

import jax
import orbax.checkpoint as ocp


class NoCheckpointError(FileNotFoundError):
  """The workdir has no checkpoint to restore (yet)."""


class Checkpointer:
  """Atomic, resumable checkpoints of an arbitrary pytree of arrays (orbax).

  Orbax writes each step to a temporary directory and renames it when complete, so a run
  killed mid-save keeps its previous checkpoint. `restore` needs a pytree of the same
  structure (e.g. the freshly initialised state) to know shapes and dtypes. With
  `with_data_state`, each checkpoint also holds a JSON dict beside the arrays (the input
  iterators' state of the classifier runs).
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

  def restore(self, like: Any, step: int | None = None, with_data_state: bool = False,
              older_layouts: Sequence[tuple[Any, Callable[[Any], Any]]] = (),
              set_aside_damaged: bool = False) -> Any:
    """The arrays (shaped like `like`), and the data state too when `with_data_state`.

    Without `step`, the newest checkpoint that restores: a newer one that does not (a data file
    truncated by a full disk, say) is skipped with one warning line naming its step. With
    `set_aside_damaged` (a run resuming, which must save past it) the skipped one is moved to
    `workdir/damaged_checkpoints/`, kept for inspection. When none restores, the newest one's
    error is raised. `older_layouts` are (like, convert) pairs of layouts earlier code saved: a
    checkpoint that does not restore as `like` is tried as each of them and converted.
    """
    steps = [step] if step is not None else sorted(self._manager.all_steps(), reverse=True)
    if not steps or steps[0] is None:
      raise NoCheckpointError("has no checkpoint yet; let the run save one first.")
    errors = []
    for candidate in steps:
      try:
        out = self._restore_any_layout(candidate, like, older_layouts)
      except (ValueError, OSError) as e:  # Orbax's errors for bytes or trees it cannot read.
        errors.append(e)
        continue
      for skipped, error in zip(steps, errors):
        self._skip(skipped, error, candidate, set_aside_damaged)
      return out if with_data_state else out[0]
    raise errors[0]

  def _restore_any_layout(self, step: int, like: Any, older_layouts) -> tuple[Any, dict | None]:
    try:
      return self._restore_as(step, like)
    except ValueError:  # Also orbax's error for a tree that is not the stored one.
      for older, convert in older_layouts:
        try:
          state, data = self._restore_as(step, older)
        except ValueError:
          continue
        return convert(state), data
      raise

  def _skip(self, step: int, error: Exception, restored: int, set_aside: bool):
    """Warns that `step` does not restore and, with `set_aside`, moves it out of the way."""
    kept = ""
    if set_aside:
      source = os.path.join(self.directory, str(step))
      aside = os.path.join(os.path.dirname(self.directory), "damaged_checkpoints", str(step))
      if jax.process_index() == 0 and os.path.isdir(source):
        while os.path.exists(aside):  # Damaged twice at the same step: keep both.
          aside += "_again"
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        shutil.move(source, aside)
        kept = f"; moved to {aside}"
      if jax.process_count() > 1:
        from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
        multihost_utils.sync_global_devices(f"checkpoint {step} set aside")
      self._manager.reload()
    reason = " ".join(f"{type(error).__name__}: {error}".split())[:200]
    print(f"warning: the checkpoint at step {step} in {self.directory} does not restore "
          f"({reason}); using step {restored} instead{kept}", flush=True)

  def _restore_as(self, step: int, like: Any) -> tuple[Any, dict | None]:
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, jax.device_get(like))
    if not self._with_data:
      return self._manager.restore(step, args=ocp.args.StandardRestore(abstract)), None
    out = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
    return out["state"], out["data"]

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()
