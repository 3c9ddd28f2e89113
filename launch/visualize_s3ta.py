"""Pictures of what a trained Atari / Catch agent attends to (Mott et al. 2019, section 4.1).

  python -m launch.visualize_s3ta --workdir=workdirs/s3ta_breakout [--steps=300] [--out_dir=DIR]
      [--baseline_workdir=workdirs/lstm_breakout]
  python -m launch.visualize_s3ta --workdir=workdirs/s3ta_cluttered60 [--stills=6]

Writes the attention video (MP4, else GIF), what/where maps (Fig. 5), marginals (Fig. 12),
saliency (Fig. 6) and, on Catch, whether the attention follows the ball; for a classifier
workdir, Fig. 7. `s3ta_jax/pictures.py` says what each file shows.
"""
import sys

from absl import app, flags, logging

from common.cli import run_main
from common.errors import UsageError
from s3ta_jax import pictures

_WORKDIR = flags.DEFINE_string("workdir", None, "A launch.atari or launch.classify workdir.")
_BASELINE = flags.DEFINE_string("baseline_workdir", None, "A baseline's workdir, for saliency.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Where to write (default WORKDIR/figures).")
_STEPS = flags.DEFINE_integer("steps", 300, "Agent steps to play and draw.")
_GREEDY = flags.DEFINE_bool(
    "greedy", True, "Play the policy's most likely action; False samples it (a greedy Breakout "
    "agent can sit without ever launching the ball).")
_STILLS = flags.DEFINE_integer("stills", 6,
                              "Frames in the what/where, marginals and saliency figures.")
_FPS = flags.DEFINE_integer("fps", 15, "Video frames per second.")
_SEED = flags.DEFINE_integer("seed", 0, "Environment seed.")
_SCALE = flags.DEFINE_integer("scale", 3, "Pixel upscaling of the video panels.")
_RECORD = flags.DEFINE_string(
    "record", None, "Also write what was drawn and measured as a run record here (e.g. "
    "docs/run_records/s3ta_catch_follows_ball.json), listed by launch.reproduce in docs/results.md.")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if not _WORKDIR.value:
    raise UsageError("pass --workdir=DIR of a launch.atari or launch.classify run")
  written = pictures.draw(
      _WORKDIR.value, _OUT_DIR.value, _STEPS.value, _STILLS.value, _FPS.value, _SEED.value,
      _SCALE.value, _BASELINE.value, _RECORD.value, greedy=_GREEDY.value,
      command="python -m launch.visualize_s3ta " + " ".join(sys.argv[1:]))
  print("wrote " + ", ".join(written), flush=True)


if __name__ == "__main__":
  app.run(lambda argv: run_main(main, argv))
