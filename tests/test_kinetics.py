"""The Kinetics builder (s3ta_jax/kinetics.py) and the video pipeline, offline: tiny MP4 files
written here with PyAV, a release-style CSV, a missing and a corrupt clip; built and read back
with tfds's ArrayRecord support (TensorFlow is not installed in the test environment)."""
import contextlib
import io

import av
import jax
import numpy as np
import pytest

from common.errors import UsageError
from configs import s3ta_kinetics, s3ta_moving_mnist
from s3ta_jax import classify_loop
from s3ta_jax import input_pipeline as ip
from s3ta_jax import kinetics

NUM_SOURCE_FRAMES, NUM_FRAMES = 12, 5
TRAIN = [("b", 0), ("a", 1), ("c", 2), ("a", 3), ("b", 4), ("c", 5)]  # (label, clip number)
VALIDATION = [("c", 6), ("a", 7)]


def clip_frames(number: int) -> np.ndarray:
  """[12, 48, 64, 3]: red ramps with time (20 t), green names the clip (20 + 30 n), blue with x
  and y (so crops differ by position)."""
  frames = np.zeros((NUM_SOURCE_FRAMES, 48, 64, 3), np.uint8)
  frames[..., 0] = (20 * np.arange(NUM_SOURCE_FRAMES))[:, None, None]
  frames[..., 1] = 20 + 30 * number
  frames[..., 2] = 3 * np.arange(64)[None, :] + np.arange(48)[:, None]
  return frames


def write_video(path, frames: np.ndarray) -> None:
  with av.open(str(path), "w") as container:
    stream = container.add_stream("mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    stream.options = {"qscale": "2"}  # Near-lossless, so the test can compare pixel values.
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  manual = tmp_path_factory.mktemp("manual")
  (manual / "train").mkdir()
  rows = ["label,youtube_id,time_start,time_end,split"]
  for split, clips in (("train", TRAIN), ("validate", VALIDATION)):
    for label, number in clips:
      write_video(manual / "train" / f"yt{number}_000010_000020.mp4", clip_frames(number))
      rows.append(f"{label},yt{number},10,20,{split}")
  rows.append("a,gone,0,10,train")  # Listed, never downloaded.
  (manual / "broken_000000_000010.mp4").write_bytes(b"not a video")
  rows.append("b,broken,0,10,train")
  (manual / "kinetics600_train.csv").write_text("\n".join(rows) + "\n")
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    directory = kinetics.prepare(str(manual), str(tmp_path_factory.mktemp("data")),
                                 num_frames=NUM_FRAMES, short_side=24)
  return directory, printed.getvalue()


def _clip_number(clip: np.ndarray) -> int:
  return int(round((clip[..., 1].mean() - 20) / 30))


def test_build_keeps_equally_spaced_frames_resized_with_labels(built):
  directory, _ = built
  train, validation = (kinetics.data_source(directory, s) for s in ("train", "validation"))
  assert (len(train), len(validation)) == (len(TRAIN), len(VALIDATION))
  # The frame count is in the metadata, so the pipeline need not decode a clip to learn it.
  assert kinetics.open_dataset(directory).info.features["image/encoded"].shape[0] == NUM_FRAMES
  by_id = {bytes(r["clip/id"]).decode(): r for r in (train[i] for i in range(len(train)))}
  assert set(by_id) == {f"yt{n}_000010_000020" for _, n in TRAIN}
  spaced = np.round(np.linspace(0, NUM_SOURCE_FRAMES - 1, NUM_FRAMES)).astype(int)  # 0 3 6 8 11
  names = sorted({label for label, _ in TRAIN + VALIDATION})  # tfds ClassLabel order.
  for label, number in TRAIN:
    record = by_id[f"yt{number}_000010_000020"]
    frames = np.asarray(record["image/encoded"])
    assert frames.shape == (NUM_FRAMES, 24, 32, 3) and frames.dtype == np.uint8  # Short side 24.
    np.testing.assert_allclose(frames[..., 0].mean(axis=(1, 2)), 20 * spaced, atol=6)
    assert _clip_number(frames) == number
    assert int(record["clip/label/index"]) == names.index(label)
    assert bytes(record["clip/label/text"]).decode() == label


def test_missing_and_corrupt_videos_are_skipped_with_one_summary_line(built):
  _, printed = built
  summary = [line for line in printed.splitlines() if "kinetics train" in line]
  assert len(summary) == 1
  assert f"{len(TRAIN)} clips written, 2 skipped (1 missing, 1 undecodable)" in summary[0]
  assert "gone_000000_000010" in summary[0] and "broken_000000_000010" in summary[0]


def test_frame_indices_span_the_clip():
  np.testing.assert_array_equal(kinetics.frame_indices(12, 5), [0, 3, 6, 8, 11])
  np.testing.assert_array_equal(kinetics.frame_indices(2, 4), [0, 0, 1, 1])  # Short clip: repeats.


def test_bad_csv_names_the_missing_column(tmp_path):
  (tmp_path / "k.csv").write_text("label,youtube_id,split\na,x,train\n")
  with pytest.raises(ValueError, match=r"time_end.*time_start"):
    kinetics.read_csvs(str(tmp_path))


def test_video_pipeline_crops_every_frame_alike_and_shards_by_process(built, monkeypatch):
  directory, _ = built
  pipeline = ip.kinetics(directory, image_size=16)
  assert pipeline.num_classes == 3 and pipeline.image_shape == (NUM_FRAMES, 16, 16, 3)
  assert pipeline.class_names == ("a", "b", "c") and pipeline.name == "kinetics_clips"
  record = pipeline.train_source[0]
  full = np.asarray(record["image/encoded"])
  crops = [ip.VideoTrainAugment(16).random_map(record, np.random.default_rng(s))["image"]
           for s in range(8)]
  assert len({c.tobytes() for c in crops}) > 1  # Random position and flip.
  for crop in crops:  # One window, the same for all frames: find it in frame 0, check the rest.
    found = [(t, l, f) for t in range(24 - 15) for l in range(32 - 15) for f in (False, True)
             if np.array_equal(crop[0], (full[0, t:t + 16, l:l + 16])[:, ::-1 if f else 1])]
    assert found
    t, l, f = found[0]
    np.testing.assert_array_equal(crop, full[:, t:t + 16, l:l + 16][:, :, ::-1 if f else 1])
  centre = ip.VideoEvalPreprocess(16).map(record)["image"]
  np.testing.assert_array_equal(centre, full[:, 4:20, 8:24])

  seen = []
  for process in (0, 1):
    monkeypatch.setattr(jax, "process_index", lambda p=process: p)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    loader = iter(ip.train_loader(pipeline, global_batch=2, seed=0))
    seen.append({_clip_number(c) for _ in range(3) for c in next(loader)["image"]})  # One epoch.
  assert not seen[0] & seen[1] and seen[0] | seen[1] == {n for _, n in TRAIN}


def test_moving_digits_train_unflipped_because_their_label_has_a_direction(built):
  directory, _ = built
  flips = {}
  for name, config in (("kinetics", s3ta_kinetics.get_config()),
                       ("moving_digits", s3ta_moving_mnist.get_config())):
    config.data_dir, config.model.image_size = directory, 16
    pipeline = classify_loop.build_pipeline(config)
    augment, record = pipeline.train_ops[0], pipeline.train_source[0]
    crops = [augment.random_map(record, np.random.default_rng(s))["image"] for s in range(16)]
    # Blue grows with x in every clip (clip_frames), so it falls along x only in a mirrored crop.
    flips[name] = sum(int(c[0, 0, -1, 2]) < int(c[0, 0, 0, 2]) for c in crops)
  assert 0 < flips["kinetics"] < 16 and flips["moving_digits"] == 0


def test_launch_classify_trains_the_video_model_on_the_built_dataset(built, tmp_path):
  directory, _ = built
  config = s3ta_kinetics.get_config("mock")  # Small model and short schedule, then real data.
  config.update(dict(mock=False, data_dir=directory, workdir=str(tmp_path / "w"),
                     batch_size=2, eval_batch_size=2, num_train_steps=3, eval_every_steps=0))
  m = config.model
  m.image_size, m.num_frames, m.image_channels = 16, NUM_FRAMES, 3
  m.image_mean, m.image_std = (0.5,) * 3, (0.25,) * 3
  results = classify_loop.train(config)
  assert results["kind"] == "s3ta_video" and results["sequence_length"] == NUM_FRAMES
  assert results["num_examples"] == len(VALIDATION) and results["images"] == 6
  assert len(results["step_top1_error"]) == NUM_FRAMES  # One read (and one guess) per frame.

  config.model.num_frames = 4  # The data has 5 frames: one error naming both.
  config.workdir = str(tmp_path / "other")
  with pytest.raises(UsageError, match=r"\(5, 16, 16, 3\).*\(4, 16, 16, 3\)"):
    classify_loop.train(config)
