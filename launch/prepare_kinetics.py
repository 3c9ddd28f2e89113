"""Prepares a Kinetics release (Kinetics-600, or any clips + CSV in its layout) once, as tfds
ArrayRecord files that training reads without TensorFlow:

  pip install -e ".[kinetics]"
  python -m launch.prepare_kinetics --manual_dir=DIR --data_dir=DATA [--num_frames=32 --short_side=256]

DIR holds the release's CSV files (`label,youtube_id,time_start,time_end,split`) and the clips,
named `ID_START_END.mp4` as the release's download script names them, in any sub-directories.
Missing and undecodable clips are skipped and counted. See s3ta_jax/kinetics.py.
"""
from __future__ import annotations

from absl import app, flags

from common.cli import run_main
from common.errors import UsageError

_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "Directory with the CSVs and the clips.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Where the tfds dataset is written.")
_NUM_FRAMES = flags.DEFINE_integer("num_frames", 32, "Equally spaced frames kept per clip.")
_SHORT_SIDE = flags.DEFINE_integer("short_side", 256, "Frames are resized to this short side.")
_NAME = flags.DEFINE_string("name", "kinetics_clips", "Dataset name (a directory under data_dir).")


def main(argv):
  del argv
  if not _MANUAL_DIR.value or not _DATA_DIR.value:
    raise UsageError("pass --manual_dir (the CSVs and clips) and --data_dir (the output).")
  try:
    import av  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    raise UsageError("decoding clips needs PyAV: pip install -e '.[kinetics]'") from None
  from s3ta_jax import kinetics  # pylint: disable=g-import-not-at-top
  try:
    directory = kinetics.prepare(_MANUAL_DIR.value, _DATA_DIR.value, _NUM_FRAMES.value,
                                 _SHORT_SIDE.value, _NAME.value)
  except (FileNotFoundError, ValueError) as e:
    raise UsageError(str(e)) from None
  print(f"prepared {directory}; train with --config.data_dir={directory}", flush=True)


if __name__ == "__main__":
  app.run(lambda argv: run_main(main, argv))
