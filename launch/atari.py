"""Trains S3TA (or a baseline) on Atari with the IMPALA actor–learner (Mott et al. 2019, §4.1).

  python -m launch.atari --config=configs/s3ta_atari.py --config.workdir=workdirs/s3ta_breakout
  python -m launch.atari --config=configs/s3ta_atari.py:catch --config.workdir=workdirs/impala_catch

Prints a progress line every `log_every_s`, checkpoints every `checkpoint_every_s` and at the
end, and resumes from the latest checkpoint when re-run with the same workdir. Multi-host: set
`--config.distributed.enabled=True` (plus address/num_processes/process_id off TPU pods and
SLURM) on every process. What it writes: `s3ta_jax/impala/atari_loop.py`.
"""
import sys

from common.cli import run_with_config
from s3ta_jax.impala import atari_loop

if __name__ == "__main__":
  command = [sys.executable, "-m", "launch.atari", *sys.argv[1:]]  # Kept for run records.
  run_with_config(lambda config: atari_loop.train(config, command=command),
                  "configs/s3ta_atari.py")
