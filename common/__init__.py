"""What the RAM and S3TA training systems share, one job per module, below both model packages.

  errors       the two exceptions every entry point turns into an exit status
  cli          one-line flag and usage errors, exit codes, running an entry point as a child
  distributed  jax.distributed.initialize from a config
  metrics      the progress line, metrics.jsonl and TensorBoard events
  checkpoint   atomic orbax checkpoints
  workdir      one writer per workdir, the config guard, reading a finished run back
  loop         stop signals, when a loop evaluates/checkpoints/stops, and the loop itself

`common` imports neither `ram_jax` nor `s3ta_jax` (nor `launch`): both model packages build their
training loops on it, and the launchers stay thin.
"""
