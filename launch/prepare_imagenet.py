"""Prepares ImageNet (ILSVRC 2012) once, as tfds ArrayRecord files that training reads without
TensorFlow (`tfds.data_source` + grain):

  pip install -e ".[prepare]"
  python -m launch.prepare_imagenet --manual_dir=DIR [--data_dir=~/tensorflow_datasets]

DIR holds ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from image-net.org (they cannot be
downloaded automatically). Takes hours and ~150 GB; re-running skips what is done. Then train with
`python -m launch.classify --config=configs/s3ta_imagenet.py --config.data_dir=DATA_DIR ...`.
"""
from __future__ import annotations

import os

from absl import app, flags

from common.cli import run_main
from common.errors import UsageError

_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "Directory with the ILSVRC2012 tars.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data directory (default ~/tensorflow_datasets).")

TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")


def main(argv):
  del argv
  manual = _MANUAL_DIR.value
  if not manual or not all(os.path.exists(os.path.join(manual, t)) for t in TARS):
    raise UsageError(f"--manual_dir must hold {' and '.join(TARS)} (from image-net.org).")
  try:
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import  # tfds's builder needs it.
  except ImportError:
    raise UsageError("preparing ImageNet needs TensorFlow: pip install -e '.[prepare]'") from None
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder("imagenet2012", data_dir=_DATA_DIR.value, file_format="array_record")
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
  print(f"prepared {builder.info.full_name} in {builder.data_dir}: "
        + ", ".join(f"{k} {v.num_examples:,}" for k, v in builder.info.splits.items()), flush=True)


if __name__ == "__main__":
  app.run(lambda argv: run_main(main, argv))
