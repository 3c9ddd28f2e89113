"""Kinetics-style video datasets as tfds ArrayRecord files, built and read without TensorFlow.

tfds has no Kinetics builder. This one reads the official release as a user has it on disk:

  MANUAL_DIR/*.csv      rows `label,youtube_id,time_start,time_end,split` (the release's
                        train.csv, validate.csv, test.csv; any number of CSV files)
  MANUAL_DIR/**/ID_START_END.mp4 (or .mkv/.webm/.avi), e.g. `abc123_000010_000020.mp4`, the
                        name the release's download script gives a clip; any sub-directory layout

Each clip is decoded with PyAV, `num_frames` equally spaced frames are kept, their short side is
resized to `short_side`, and they are stored as JPEG (`Sequence(Image)`, so tfds needs no
TensorFlow to write or read them). Feature names follow DMVR/scenic: `image/encoded` [F, H, W, 3]
uint8 when read, `clip/label/index`, `clip/label/text`, `clip/id`. Missing and undecodable
videos are counted and skipped; each split ends with one summary line.

  from s3ta_jax import kinetics
  kinetics.prepare(manual_dir, data_dir)              # or: python -m launch.prepare_kinetics
  source = kinetics.data_source(data_dir, "train")    # random access, no TensorFlow
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import glob
import io
import os

import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi")
SPLITS = {"train": "train", "validate": "validation", "val": "validation",
          "validation": "validation", "test": "test"}
NAME = "kinetics_clips"


@dataclasses.dataclass(frozen=True)
class Clip:
  label: str
  youtube_id: str
  time_start: int
  time_end: int

  @property
  def stem(self) -> str:
    return f"{self.youtube_id}_{self.time_start:06d}_{self.time_end:06d}"


def read_csvs(manual_dir: str) -> dict[str, list[Clip]]:
  """{tfds split: clips} from every CSV in `manual_dir`, in file order."""
  paths = sorted(glob.glob(os.path.join(manual_dir, "*.csv")))
  if not paths:
    raise FileNotFoundError(f"no CSV file in {manual_dir}; it needs the release's "
                            "label,youtube_id,time_start,time_end,split files.")
  splits: dict[str, list[Clip]] = collections.defaultdict(list)
  for path in paths:
    with open(path, newline="") as f:
      reader = csv.DictReader(f)
      missing = {"label", "youtube_id", "time_start", "time_end", "split"} - set(
          reader.fieldnames or ())
      if missing:
        raise ValueError(f"{path} lacks the column(s) {sorted(missing)}; Kinetics CSVs have "
                         "label,youtube_id,time_start,time_end,split.")
      for row in reader:
        split = SPLITS.get(row["split"].strip())
        if split is None:
          raise ValueError(f"{path}: unknown split {row['split']!r}; use one of {sorted(SPLITS)}.")
        splits[split].append(Clip(row["label"].strip(), row["youtube_id"].strip(),
                                  int(float(row["time_start"])), int(float(row["time_end"]))))
  return dict(splits)


def find_videos(manual_dir: str) -> dict[str, str]:
  """{file stem: path} of every video file under `manual_dir`."""
  found = {}
  for root, _, files in os.walk(manual_dir):
    for name in files:
      stem, ext = os.path.splitext(name)
      if ext.lower() in VIDEO_EXTENSIONS:
        found[stem] = os.path.join(root, name)
  return found


def frame_indices(num_available: int, num_frames: int) -> np.ndarray:
  """`num_frames` equally spaced indices over [0, num_available), first and last included
  (repeats when the clip is shorter)."""
  return np.round(np.linspace(0, num_available - 1, num_frames)).astype(np.int64)


def decode_clip(path: str, num_frames: int, short_side: int) -> list[bytes]:
  """`num_frames` equally spaced frames of the video at `path`, short side resized to
  `short_side`, as JPEG bytes. Raises ValueError when the file has no decodable frame."""
  import av  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  frames = []
  with av.open(path) as container:
    # All frames, each resized as it is decoded: stream.frames is 0 in some containers, and a
    # 10 s clip at 256 px is ~90 MB, so counting first is not worth a second decode.
    for frame in container.decode(video=0):
      image = frame.to_image()
      scale = short_side / min(image.size)
      frames.append(image.resize((max(1, round(image.width * scale)),
                                  max(1, round(image.height * scale))), Image.BILINEAR))
  if not frames:
    raise ValueError(f"{path} has no decodable video frame.")
  encoded = []
  for i in frame_indices(len(frames), num_frames):
    buffer = io.BytesIO()
    frames[i].convert("RGB").save(buffer, format="JPEG", quality=90)
    encoded.append(buffer.getvalue())
  return encoded


def make_builder(data_dir: str, labels: tuple[str, ...], num_frames: int = 32,
                 short_side: int = 256, name: str = NAME):
  """A tfds builder writing ArrayRecord files under data_dir/name/. `labels` fixes the class
  indices (sorted names, as tfds's ClassLabel does for the release)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class KineticsClips(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "A directory with the release's CSV files and the clips as ID_START_END.<ext>.")
    # tfds looks for a checksums file beside the builder's code through importlib_resources,
    # which it does not install; a manual-download builder has no URLs to check.
    code_path = None

    def _info(self):
      return self.dataset_info_from_configs(
          description=f"{num_frames} equally spaced frames per clip, short side {short_side}.",
          features=tfds.features.FeaturesDict({
              # A fixed length puts the frame count in dataset_info.json, for the pipeline.
              "image/encoded": tfds.features.Sequence(
                  tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                  length=num_frames),
              "clip/label/index": tfds.features.ClassLabel(names=list(labels)),
              "clip/label/text": tfds.features.Text(),
              "clip/id": tfds.features.Text(),
          }),
          supervised_keys=("image/encoded", "clip/label/index"))

    def _split_generators(self, dl_manager):
      manual_dir = os.fspath(dl_manager.manual_dir)
      videos = find_videos(manual_dir)
      return {split: self._generate_examples(split, clips, videos)
              for split, clips in read_csvs(manual_dir).items()}

    def _generate_examples(self, split, clips, videos):
      skipped = collections.Counter()
      examples: list[str] = []
      for clip in clips:
        path = videos.get(clip.stem)
        if path is None:
          skipped["missing"] += 1
          examples.append(clip.stem)
          continue
        if clip.label not in labels:
          skipped["unlabelled"] += 1
          continue
        try:
          frames = decode_clip(path, num_frames, short_side)
        except Exception:  # pylint: disable=broad-except  # PyAV raises many types for bad files.
          skipped["undecodable"] += 1
          examples.append(clip.stem)
          continue
        yield clip.stem, {"image/encoded": frames, "clip/label/index": clip.label,
                          "clip/label/text": clip.label, "clip/id": clip.stem}
      written = len(clips) - sum(skipped.values())
      detail = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())) or "none"
      print(f"kinetics {split}: {written:,} clips written, {sum(skipped.values()):,} skipped "
            f"({detail})" + (f"; e.g. {', '.join(examples[:3])}" if examples else ""), flush=True)

  KineticsClips.name = name
  return KineticsClips(data_dir=data_dir)


def prepare(manual_dir: str, data_dir: str, num_frames: int = 32, short_side: int = 256,
            name: str = NAME, labels: tuple[str, ...] | None = None) -> str:
  """Builds the dataset once; returns its directory (what `data_source` reads). `labels` fixes
  the class order (default: the CSVs' label names, sorted)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  clips = read_csvs(manual_dir)
  if labels is None:
    labels = tuple(sorted({c.label for split in clips.values() for c in split if c.label}))
  builder = make_builder(data_dir, labels, num_frames, short_side, name)
  builder.download_and_prepare(
      file_format="array_record",
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder.data_dir


def open_dataset(dataset_dir: str):
  """The tfds builder of a prepared dataset: `.info` and `.as_data_source(split=...)`, whose
  records are {"image/encoded": uint8 [F, H, W, 3], ...}."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if not os.path.exists(os.path.join(dataset_dir, "dataset_info.json")):
    raise FileNotFoundError(f"{dataset_dir} is not a prepared dataset (no dataset_info.json); "
                            "build it with python -m launch.prepare_kinetics.")
  return tfds.builder_from_directory(dataset_dir)


def data_source(dataset_dir: str, split: str):
  """Random-access records of a prepared split: {"image/encoded": uint8 [F, H, W, 3], ...}."""
  return open_dataset(dataset_dir).as_data_source(split=split)
