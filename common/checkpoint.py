"""Atomic, resumable orbax checkpoints of a pytree of arrays, one directory per step."""
from __future__ import annotations

import os
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
              older_layouts: Sequence[tuple[Any, Callable[[Any], Any]]] = ()) -> Any:
    """The arrays (shaped like `like`), and the data state too when `with_data_state`.

    `older_layouts` are (like, convert) pairs of layouts earlier code saved: a checkpoint that does
    not restore as `like` is tried as each of them and converted to the current layout.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise NoCheckpointError("has no checkpoint yet; let the run save one first.")
    try:
      out = self._restore_as(step, like)
    except ValueError:  # Orbax's error for a tree that is not the stored one.
      for older, convert in older_layouts:
        try:
          out = self._restore_as(step, older)
        except ValueError:
          continue
        out = (convert(out[0]), out[1])
        break
      else:
        raise
    return out if with_data_state else out[0]

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
