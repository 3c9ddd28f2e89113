"""Trains S3TA (or a baseline) on Atari with the IMPALA actor–learner (Mott et al. 2019, §4.1).

  python -m launch.atari --config=configs/s3ta_atari.py --config.workdir=workdirs/s3ta_breakout
  python -m launch.atari --config=configs/s3ta_atari.py:catch --config.workdir=workdirs/impala_catch

Prints a progress line every `log_every_s` (learner frames/s, learner steps/s, queue fill,
episode return mean/median over the last 100 games, losses per timestep), appends the same to
`workdir/metrics.jsonl`, checkpoints (params, optimizer state, frame count) every
`checkpoint_every_s` and at the end, and resumes from the latest checkpoint when re-run with the
same workdir. Multi-host: set `--config.distributed.enabled=True` (plus address/num_processes/
process_id off TPU pods and SLURM) on every process.
"""
from __future__ import annotations

import os
import sys

import jax
from absl import app
from absl import logging
from ml_collections import config_flags

from common.checkpoint import Checkpointer
from common.cli import parse_flags, run_main
from common.distributed import init_distributed
from common.errors import Stopped, UsageError
from common.loop import LoopControl, StopSignal
from common.metrics import Progress
from common.workdir import claim_workdir, guard_config, write_json_atomic



def train(config, stop_return: float | None = None, max_seconds: float | None = None) -> dict:
  """Runs (or resumes) training in `config.workdir`; returns the summary of `Trainer.run`."""
  if not config.workdir:
    raise UsageError("config.workdir is empty; pass --config.workdir=DIR "
                             "(e.g. workdirs/s3ta_breakout).")
  init_distributed(config)
  from s3ta_jax.impala import migrate, system
  claim_workdir(config.workdir)
  guard_config(config.workdir, config, migrate.config)
  if jax.process_index() == 0:  # How this run was made, for run records and pictures.
    write_json_atomic(os.path.join(config.workdir, "command.json"),
                              {"command": [sys.executable, "-m", "launch.atari", *sys.argv[1:]]})
  try:
    trainer = system.Trainer(config, Checkpointer(config.workdir))
  except ValueError as e:  # Config problems: one line naming the field and the fix.
    raise UsageError(str(e)) from None
  progress = Progress(config.workdir, config.total_frames, start_step=trainer.frames,
                              unit="frames", every_s=0.0)
  print(f"env={config.env_name} agent={trainer.agent_config.kind} (frames "
        f"{trainer.frame_shape[0]}x{trainer.frame_shape[1]}) actions={trainer.num_actions} "
        f"learner devices={trainer.learner.num_devices} processes={jax.process_count()}",
        flush=True)
  threshold = config.stop_return if stop_return is None else stop_return
  with StopSignal() as stop_signal:
    control = LoopControl(config.total_frames, eval_every_steps=0,
                                  checkpoint_every_s=config.checkpoint_every_s,
                                  stop_signal=stop_signal, max_seconds=max_seconds)
    summary = trainer.run(stop_return=threshold if threshold > -1e8 else None,
                          progress=progress, control=control)
  progress.close()
  if summary["stopped"]:
    raise Stopped(f"stopped at {summary['frames']:,} frames (checkpoint saved); re-run the "
                          "same command to resume.")
  print(f"done: {summary['frames']:,} frames, {summary['steps']} learner steps in "
        f"{summary['seconds']:.0f}s, mean return (last 100 games) {summary['return_mean']:.3g}",
        flush=True)
  return summary


def main(argv, config_flag):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO; keep the progress lines.
  if config_flag.value is None:
    raise UsageError("pass --config=configs/s3ta_atari.py")
  train(config_flag.value)


if __name__ == "__main__":
  # Defined here, not at import, so tests can import several launch modules.
  _CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a config, e.g. configs/s3ta_atari.py.")
  app.run(lambda argv: run_main(lambda a: main(a, _CONFIG), argv),
          flags_parser=parse_flags)
