"""The training loop every trainer runs (MNIST, Catch, the classifiers, IMPALA on Atari): when it
reports, evaluates, checkpoints and stops, the same in every loop and on every process; and
Ctrl-C / SIGTERM as a request to checkpoint and stop."""
from __future__ import annotations

import signal
import threading
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from common.errors import Stopped


class StopSignal:
  """Ctrl-C or SIGTERM (a preempted job) asks a training loop to checkpoint and stop.

  The loop polls `requested` once per step, so the state it saves is whole. Only a second Ctrl-C
  aborts at once: SIGTERM is how `timeout` and schedulers ask a job to end, and they often send
  it to the process and to its process group together, so a repeated SIGTERM is the same
  request (a scheduler that will not wait follows with SIGKILL). Installed only in single-process
  runs: in a multi-process job one process leaving early would leave the others waiting in a
  collective, so those keep the default (the periodic checkpoint bounds the loss).
  """

  def __init__(self):
    self.requested = False
    self._interrupts = 0  # Ctrl-Cs received.
    self._previous = {}

  def __enter__(self):
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if signum == signal.SIGINT:
      self._interrupts += 1
      if self._interrupts > 1:
        raise KeyboardInterrupt
    if self.requested:
      return
    self.requested = True
    print(f"\n{signal.Signals(signum).name}: saving a checkpoint and stopping (Ctrl-C again to "
          "abort)", flush=True)

  def __exit__(self, *exc_info):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}


class LoopControl:
  """When a training loop evaluates, checkpoints and stops: the one protocol of every training
  loop (MNIST, Catch, the classifiers and the IMPALA trainer, whose steps are frames).

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
               stop_signal: "StopSignal | None", stop_at: int | None = None, clock=time.time,
               max_seconds: float | None = None):
    """`stop_signal` None: a loop nothing but its own end stops (a test, a benchmark)."""
    self.total_steps, self.eval_every_steps = total_steps, eval_every_steps
    self.checkpoint_every_s, self.stop_signal, self.stop_at = checkpoint_every_s, stop_signal, stop_at
    self._clock = clock
    self._last_checkpoint = self._start = clock()
    self.max_seconds = max_seconds

  def after(self, step: int, finished: bool = False) -> "LoopControl.Actions":
    requested = self._requested()
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

  def _requested(self) -> bool:
    return self.stop_signal is not None and self.stop_signal.requested

  def stopped_message(self, step: int) -> str | None:
    """The `Stopped` message when a signal stopped the loop (None when `stop_at` did)."""
    if self._requested():
      return f"stopped at step {step}; re-run the same command to resume."
    return None


class Outcome(NamedTuple):
  step: int
  stopped: bool   # Stopped early by `stop_at` (a test's kill), after its checkpoint.
  finished: bool  # The loop met its own goal (a step returned finished=True).


def run(control: LoopControl, step: int, train_step: Callable[[int], tuple[int, bool]], *,
        save: Callable[[int, bool], None], report: Callable[[int], None], report_every_s: float,
        evaluate: Callable[[int], None] | None = None,
        before_save: Callable[[int], None] | None = None, clock=time.time) -> Outcome:
  """Trains from `step` until `control` says done or stop; the one loop of every trainer.

  Each iteration: `train_step(step)` returns (the new step, whether the loop met its own goal);
  `control.after` decides the rest, in this order: `before_save(step)` when a checkpoint is due
  (a divergence check), `report(step)` every `report_every_s` seconds and at the end,
  `evaluate(step)` when due, `save(step, wait)`. A stop signal raises `Stopped` once the
  checkpoint is saved (callers close their writers in a `finally`).
  """
  last_report = clock()
  while step < control.total_steps:
    step, finished = train_step(step)
    actions = control.after(step, finished=finished)
    if actions.checkpoint and before_save is not None:
      before_save(step)
    if clock() - last_report >= report_every_s or actions.done:
      report(step)
      last_report = clock()
    if actions.evaluate and evaluate is not None:
      evaluate(step)
    if actions.checkpoint:
      save(step, actions.wait)
    if actions.stop and control.stopped_message(step):
      raise Stopped(control.stopped_message(step))
    if actions.stop or actions.done:
      return Outcome(step, stopped=actions.stop, finished=actions.finished)
  return Outcome(step, stopped=False, finished=False)


def train_and_evaluate(step: int, train_step: Callable[[int], tuple[int, bool]], *, total: int,
                       eval_every_steps: int, checkpoint_every_s: float,
                       save: Callable[[int, bool], None], report: Callable[[int], None],
                       report_every_s: float, evaluate: Callable[[int], Any],
                       before_save: Callable[[int], None] | None = None,
                       stop_at: int | None = None, closing: Sequence[Any] = ()
                       ) -> tuple[Outcome, Any]:
  """A training session of a step-counted loop: `run` to `total` steps under Ctrl-C/SIGTERM
  handling, then the final evaluation; `closing` (checkpointers, progress writers) is closed
  whatever happens. Returns (outcome, the final `evaluate(step)`; None when `stop_at` stopped).
  """
  try:
    with StopSignal() as stop_signal:
      control = LoopControl(total, eval_every_steps, checkpoint_every_s, stop_signal, stop_at)
      outcome = run(control, step, train_step, save=save, report=report,
                    report_every_s=report_every_s, evaluate=evaluate, before_save=before_save)
    return outcome, None if outcome.stopped else evaluate(outcome.step)
  finally:
    for writer in closing:
      writer.close()
