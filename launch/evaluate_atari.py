"""Evaluates a trained Atari agent from its workdir: returns and human-normalised score.

  python -m launch.evaluate_atari --workdir=workdirs/s3ta_breakout --episodes=10 --mode=both

Reads `workdir/config.json` and the latest checkpoint, plays `--episodes` whole games (no life
loss termination, up to 27k agent steps = 108k frames) with greedy (argmax) and/or sampled
actions, prints mean/median/min/max return and the human-normalised score (random and human
references from `s3ta_jax.impala.human_scores`), and appends them to `workdir/eval.jsonl`.

  python -m launch.evaluate_atari --workdir=workdirs/s3ta_breakout --diagnose

instead plays 200 steps in 8 games and prints the signs of a collapsed torso (value spread over
envs, saturated policy-LSTM and ConvLSTM gates, the ConvLSTM cell's size, attention sharpness;
`s3ta_jax.impala.diagnostics`).
"""
from absl import app, flags, logging

from common.cli import run_main
from common.errors import UsageError

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir (holds config.json, checkpoints/).")
_EPISODES = flags.DEFINE_integer("episodes", 10, "Games to play per mode.")
_MODE = flags.DEFINE_enum("mode", "both", ["greedy", "stochastic", "both"], "Action selection.")
_MAX_STEPS = flags.DEFINE_integer("max_steps", 27000, "Agent steps per game at most (x4 frames).")
_SEED = flags.DEFINE_integer("seed", 0, "Environment and sampling seed.")
_DIAGNOSE = flags.DEFINE_bool("diagnose", False, "Print collapse diagnostics instead of scores.")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax logs restores at INFO.
  if not _WORKDIR.value:
    raise UsageError("pass --workdir=DIR of a launch.atari run")
  if _DIAGNOSE.value:
    from s3ta_jax.impala import diagnostics  # pylint: disable=g-import-not-at-top
    diagnostics.diagnose_run(_WORKDIR.value, seed=_SEED.value)
    return
  from s3ta_jax.impala import evaluation  # pylint: disable=g-import-not-at-top
  modes = ["greedy", "stochastic"] if _MODE.value == "both" else [_MODE.value]
  evaluation.evaluate_run(_WORKDIR.value, _EPISODES.value, modes, _MAX_STEPS.value, _SEED.value)


if __name__ == "__main__":
  app.run(lambda argv: run_main(main, argv))
