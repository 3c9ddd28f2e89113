"""The RAM figures (ram_jax.figures), the reproduction runner and its report (ram_jax.experiments,
ram_jax.results_report), and the random search (ram_jax.search)."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common.errors import STOPPED_EXIT_CODE, UsageError
from configs import mnist_base
from ram_jax import analysis, data, experiments, figures, glimpse, results_report, search
from ram_jax import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_foveated_view_puts_full_resolution_centre_inside_upsampled_coarse_scale():
  rng = np.random.default_rng(0)
  image = rng.random((1, 32, 32, 1)).astype(np.float32)
  # Centre (0, 0) -> pixel edge (16, 16): the 8x8 patch covers 12..19, the 16x16 one 8..23.
  views = np.asarray(glimpse.retina(jnp.asarray(image), jnp.zeros((1, 2)), size=8, num_scales=2))
  view = figures.foveated_view(views[0, ..., 0])
  assert view.shape == (16, 16)
  coarse = image[0, 8:24, 8:24, 0].reshape(8, 2, 8, 2).mean(axis=(1, 3))
  expected = np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)
  expected[4:12, 4:12] = image[0, 12:20, 12:20, 0]
  np.testing.assert_allclose(view, expected, rtol=1e-6)


def test_path_centres_match_the_pixels_the_sensor_reads():
  locations = np.random.default_rng(1).uniform(-1.2, 1.2, size=(50, 2)).astype(np.float32)
  centres = figures.glimpse_centres_in_pixels(locations, 60, 40)
  row_col = np.asarray(glimpse.location_to_pixel(jnp.clip(jnp.asarray(locations), -1, 1), 60, 40))
  np.testing.assert_array_equal(centres + 0.5, row_col[:, ::-1])


def test_offsets_from_digit_are_measured_from_the_pixel_the_sensor_centres_on():
  # (x, y) = (0, 0) on a 60x60 image is pixel edge (30, 30); (1, -1) is (0, 60); (-2, 5) clips.
  locations = np.array([[[0.0, 0.0], [1.0, -1.0], [-2.0, 5.0]]], np.float32)
  offsets = analysis.offsets_from_digit(locations, np.array([[30, 26]]), 60, 60)
  np.testing.assert_array_equal(offsets, [[[0, 4], [-30, 34], [30, -26]]])


def brightest_window_reference(images, locations, size, num_scales, window=3):
  """Numpy loop: the centre of the `window`x`window` blocks of the coarsest scale around each
  location whose image pixels (zero outside the image) sum highest; the first such in row-major
  order. -> `[B, 2]` pixel edges (row, col)."""
  block, (height, width) = 2 ** (num_scales - 1), images.shape[1:3]
  gaze = np.asarray(glimpse.location_to_pixel(np.clip(locations, -1, 1), height, width))
  out = np.zeros((len(images), 2))
  for n, (row, col) in enumerate(gaze):
    top, left = row - size * block // 2, col - size * block // 2
    best = -1.0
    for i in range(size - window + 1):
      for j in range(size - window + 1):
        r0, c0 = top + i * block, left + j * block
        total = images[n, max(r0, 0):max(r0 + window * block, 0),
                       max(c0, 0):max(c0 + window * block, 0)].sum()
        if total > best + 1e-5:
          best, out[n] = total, (r0 + window * block / 2, c0 + window * block / 2)
  return out


def test_brightest_window_looks_at_the_brightest_blob_of_the_coarsest_scale():
  rng = np.random.default_rng(0)
  images = rng.random((6, 60, 60, 1)).astype(np.float32) ** 4
  images[0] = 0.0
  images[0, 42:54, 10:22] = 1.0  # Blocks 9..11 x 1..3 of the 48-pixel patch around (30, 30).
  locations = np.array([[0, 0], [1, 1], [-1, 0.5], *rng.uniform(-1, 1, (3, 2))], np.float32)
  rho = glimpse.retina(jnp.asarray(images), locations, 12, 3)
  got = analysis.brightest_window(rho, jnp.asarray(locations), (60, 60))
  got_pixels = np.asarray(glimpse.location_to_pixel(got, 60, 60))
  np.testing.assert_array_equal(got_pixels[0], [48, 16])  # The square's centre.
  expected = brightest_window_reference(images[..., 0], locations, 12, 3)
  np.testing.assert_array_equal(got_pixels, np.clip(expected, 0, 60))


def _tiny_ram_config():
  config = mnist_base.base_config("ram")
  config.update(dict(task="translated", canvas=40, glimpse_size=4, num_scales=2, num_glimpses=3,
                     hidden=8, glimpse_features=8, location_features=8, glimpse_output=8))
  return config


def test_policy_stats_measure_a_fixed_policy_against_the_digits_drawn():
  config = _tiny_ram_config()
  model, task = train.make_model(config), train.make_task(config)
  # Digits are 28x28 blocks of random values in [100, 255]; the policy always looks at
  # (x, y) = (0.5, -0.5).
  images = np.random.default_rng(0).integers(100, 256, (20, 28, 28), dtype=np.uint8)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 40, 40, 1)),
                      jax.random.PRNGKey(1))["params"]
  # A large random classifier head, so the predicted class depends on what the glimpses saw.
  action = params["action_net"]
  action["kernel"] = 100 * jax.random.normal(jax.random.PRNGKey(2), action["kernel"].shape)
  head = params["step"]["location_net"]["mean"]
  head["kernel"] = jnp.zeros_like(head["kernel"])
  seed = jax.random.PRNGKey(config.eval_seed + 17)
  x, _ = data.make_eval_batch(seed, np.arange(20), images, np.zeros(20, int), task)
  # Labels: the classes a policy fixed on the image's centre (tanh(0) = 0) predicts, so the
  # `image_centre` error must be 0 and the (0.5, -0.5) policy's is not.
  head["bias"] = jnp.zeros(2)
  centre_gaze = lambda: model.apply({"params": params}, x, jax.random.PRNGKey(config.eval_seed + 18),
                                    deterministic=True)["logits"]
  action["bias"] = -jnp.mean(centre_gaze(), 0)  # Centred logits: not every image one class.
  labels = np.asarray(jnp.argmax(centre_gaze(), -1))
  head["bias"] = jnp.arctanh(jnp.array([0.5, -0.5]))
  stats = analysis.policy_stats(model, params, config, task, images, labels, 20)
  # Reference from the pixels: (x, y) = (0.5, -0.5) is pixel edge (row 10, col 30).
  corners = np.array([[r.min(), c.min()] for r, c in
                      (np.nonzero(np.round(im[..., 0] * 255) > 0) for im in np.asarray(x))])
  offsets = np.array([10, 30]) - (corners + 14)
  assert stats["median_distance_px"][1:] == [round(float(np.median(np.hypot(*offsets.T))), 3)] * 2
  on_digit = float(np.mean(np.all(np.abs(offsets) <= 14, -1)))
  assert stats["fraction_on_digit"][1:] == [round(on_digit, 3)] * 2 and 0 < on_digit < 1
  # The fixed reference: glimpses on the 40x40 image's centre, pixel edge (20, 20).
  centre_offsets = np.array([20, 20]) - (corners + 14)
  assert stats["image_centre"] == {
      "median_distance_px": round(float(np.median(np.hypot(*centre_offsets.T))), 3),
      "fraction_on_digit": round(float(np.mean(np.all(np.abs(centre_offsets) <= 14, -1))), 3),
      "error": 0.0}
  assert stats["error"] > 0
  # Glimpses 2..T placed by the brightest-window policy, from the run's own random first glimpse.
  locations = model.apply({"params": params}, x, jax.random.PRNGKey(config.eval_seed + 18),
                          deterministic=True)["locations"][:, 0]
  blob_offsets = []
  for _ in range(config.num_glimpses):
    pixels = np.asarray(glimpse.location_to_pixel(locations, 40, 40))
    blob_offsets.append(pixels - (corners + 14))
    pixels = brightest_window_reference(np.asarray(x)[..., 0], locations, 4, 2)
    locations = np.clip(np.asarray(glimpse.pixel_to_location(pixels, 40, 40)), -1, 1)
  blob_offsets = np.stack(blob_offsets, 1)
  assert stats["brightest_window"]["fraction_on_digit"] == [
      round(float(v), 3) for v in np.mean(np.all(np.abs(blob_offsets) <= 14, -1), 0)]
  assert stats["brightest_window"]["median_distance_px"] == [
      round(float(v), 3) for v in np.median(np.hypot(*np.moveaxis(blob_offsets, -1, 0)), 0)]


def test_apply_with_glimpses_at_takes_glimpses_2_to_t_where_told():
  config = _tiny_ram_config()
  model = train.make_model(config)
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.random((5, 40, 40, 1)), jnp.float32)
  there = rng.uniform(-1, 1, (5, 2)).astype(np.float32)
  key = jax.random.PRNGKey(3)
  params = model.init(jax.random.PRNGKey(0), images, key)["params"]
  forced = analysis.apply_with_glimpses_at(model, params, images, key, there)
  free = model.apply({"params": params}, images, key, deterministic=True)
  np.testing.assert_array_equal(forced["locations"][:, 0], free["locations"][:, 0])  # Random.
  for t in (1, 2):
    np.testing.assert_allclose(forced["locations"][:, t], there, rtol=1e-6)
    np.testing.assert_allclose(forced["glimpses"][:, t], glimpse.retina(images, there, 4, 2),
                               rtol=1e-6)
  assert not np.allclose(free["locations"][:, 1], there, atol=0.05)


def test_select_sets_and_rejects_unknown_names():
  assert [e.name for e in experiments.select("mnist28_ram6,catch")] == ["mnist28_ram6", "catch"]
  assert len(experiments.select("table1")) == 14  # Table 1a (8 rows) + 1b (6 rows).
  assert all(e.table in ("2a", "2b") for e in experiments.select("table2"))
  with pytest.raises(UsageError, match="mnist28_ram66"):
    experiments.select("mnist28_ram66")


def test_report_shows_finished_part_done_and_missing_rows(tmp_path):
  runs = tmp_path / "runs"
  done = runs / "mnist28_ram6"
  done.mkdir(parents=True)
  (done / "config.json").write_text(json.dumps({"num_train_steps": 100}))
  (done / "results.json").write_text(json.dumps({"step": 100, "images": 12_800_000,
                                                 "test_error": 0.0123}))
  (done / "wall_time.json").write_text(json.dumps({"seconds": 1800}))
  part = runs / "cluttered60_ram8"
  part.mkdir()
  (part / "config.json").write_text(json.dumps({"num_train_steps": 100_000, "batch_size": 128}))
  # A resumed run redoes the evaluations after its last checkpoint; the later ones count.
  (part / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
      {"step": 30_000, "test_error": 0.3}, {"step": 40_000, "test_error": 0.2},
      {"step": 30_000, "test_error": 0.28}, {"step": 35_000, "loss": 1.0},
      {"step": 40_000, "test_error": 0.25}]))
  (part / "command.json").write_text(json.dumps({"command": [
      "py", "-m", "launch.mnist", "--config=configs/ram_cluttered60.py", "--config.lr=0.1"]}))
  catch_run = runs / "catch"
  catch_run.mkdir()
  (catch_run / "config.json").write_text(json.dumps({"total_frames": 20_000_000}))
  (catch_run / "results.json").write_text(json.dumps({"step": 13587, "frames": 20_000_064,
                                                      "catch_rate": 1.0}))
  report = tmp_path / "results.md"
  (tmp_path / "search_cluttered60.md").write_text("# search\n")
  results_report.write_report(str(report), str(runs), "/data/mnist")
  assert "[search_cluttered60.md](search_cluttered60.md)" in report.read_text()
  rows = {(line.split("|")[1].strip(), line.split("|")[2].strip()): line
          for line in report.read_text().splitlines() if line.startswith(("| 1", "| 2", "| 4"))}
  six = rows[("1a", "RAM, 6 glimpses, 8×8, 1 scale(s)")]
  assert "| 1.29% | 1.23% | done | 12.8M images | 0.50 h |" in six
  assert "--config.num_glimpses=6" in six and "--config.data_dir=/data/mnist" in six
  cluttered = rows[("2a", "RAM, 8 glimpses, 12×12, 3 scale(s)")]
  assert "| 25.00% | part-done (step 40000) | 5.1M images |" in cluttered
  # The command the run was launched with, overrides included, and only on that row.
  assert "`python -m launch.mnist --config=configs/ram_cluttered60.py --config.lr=0.1` |" in cluttered
  assert "--config.lr" not in six
  assert "| not run |" in rows[("2a", "FC, 2 layers (256 hidden each)")]
  assert "| 85% | 100.00% | done | 20.0M frames |" in rows[("4.2", "RAM, 6×6 retina, 3 scales, LSTM 256")]
  assert len(rows) == len(experiments.EXPERIMENTS)
  rows = experiments.current_rows(str(runs), str(tmp_path / "run_records"), "/data/mnist")
  [(label, images, errors, paper)] = experiments.table_curves(rows, "2a")
  assert (label, images, paper) == ("RAM, 8 glimpses, 12×12, 3 scale(s)", [3_840_000, 5_120_000], 5.23)
  assert errors == pytest.approx([28.0, 25.0])
  assert experiments.table_curves(rows, "4.2") == []  # Catch has no test error.
  assert "[Table 2a](figures/table_2a.png)" in report.read_text()
  assert (tmp_path / "figures" / "table_2a.png").stat().st_size > 0
  assert not (tmp_path / "figures" / "table_1b.png").exists()  # No run of Table 1b.


def test_report_lists_s3ta_checks_from_their_records(tmp_path):
  records = tmp_path / "docs" / "run_records"
  records.mkdir(parents=True)
  (records / "s3ta_catch_follows_ball.json").write_text(json.dumps(dict(
      kind="s3ta_check", title="Catch check", paper="Fig. 2", frames=150400,
      measured={"head": 0, "peak_to_ball": 0.4477}, train_command="python -m launch.atari X",
      command="python -m launch.visualize_s3ta Y", figures=["figures/s3ta_catch/saliency.png"],
      machine="x86_64 2 cores", date="2026-12-02")))
  (records / "s3ta_other.json").write_text(json.dumps({"kind": "something else"}))
  report = tmp_path / "docs" / "results.md"
  results_report.write_report(str(report), str(tmp_path / "runs"), "")
  text = report.read_text()
  assert "# S3TA: checks of what trained agents attend to" in text
  row = [line for line in text.splitlines() if line.startswith("| Catch check")]
  assert len(row) == 1
  assert "head 0; peak_to_ball 0.448 (after 150,400 frames)" in row[0]
  assert "[saliency.png](figures/s3ta_catch/saliency.png)" in row[0]
  assert "`python -m launch.atari X`" in row[0] and "something else" not in text


def test_report_keeps_recorded_rows_when_their_runs_are_gone(tmp_path):
  runs = tmp_path / "runs"
  run = runs / "cluttered60_conv"
  run.mkdir(parents=True)
  (run / "config.json").write_text(json.dumps({"num_train_steps": 200, "batch_size": 10}))
  (run / "results.json").write_text(json.dumps({"step": 200, "images": 2000, "test_error": 0.0716}))
  (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
      {"step": 100, "test_error": 0.2}, {"step": 200, "test_error": 0.0716}]))
  report = tmp_path / "docs" / "results.md"
  results_report.write_report(str(report), str(runs), "")
  first = report.read_text()
  record = tmp_path / "docs" / "run_records" / "cluttered60_conv.json"
  assert json.loads(record.read_text())["value"] == 0.0716
  for path in sorted(run.iterdir()):  # A fresh machine: the run directory is gone.
    path.unlink()
  run.rmdir()
  results_report.write_report(str(report), str(runs), "")
  assert report.read_text() == first
  assert "| 7.83% | 7.16% | done | 0.0M images |" in first
  rows = experiments.current_rows(str(runs), str(record.parent), "")
  [(_, images, errors, _)] = experiments.table_curves(rows, "2a")
  assert images == [1000, 2000] and errors == pytest.approx([20.0, 7.16])
  # A part-done run of the row does not hide the finished result.
  run.mkdir()
  (run / "config.json").write_text(json.dumps({"num_train_steps": 200, "batch_size": 10}))
  (run / "metrics.jsonl").write_text(json.dumps({"step": 100, "test_error": 0.3}) + "\n")
  results_report.write_report(str(report), str(runs), "")
  assert report.read_text() == first
  # A record kept without its evaluations is drawn as its final point.
  record.write_text(json.dumps({**json.loads(record.read_text()), "curve": []}))
  rows = experiments.current_rows(str(runs), str(record.parent), "")
  assert experiments.table_curves(rows, "2a")[0][1:3] == ([2000], [pytest.approx(7.16)])
  # The table's figure is redrawn when another row's run finishes, so it never shows a stale run.
  figure = tmp_path / "docs" / "figures" / "table_2a.png"
  figure.write_bytes(b"drawn before the fc64 run")
  fc = runs / "cluttered60_fc64"
  fc.mkdir()
  (fc / "config.json").write_text(json.dumps({"num_train_steps": 200, "batch_size": 10}))
  (fc / "results.json").write_text(json.dumps({"step": 200, "images": 2000, "test_error": 0.27}))
  (fc / "metrics.jsonl").write_text(json.dumps({"step": 200, "test_error": 0.27}) + "\n")
  results_report.write_report(str(report), str(runs), "")
  assert "| 28.96% | 27.00% | done |" in report.read_text()
  assert figure.read_bytes().startswith(b"\x89PNG")
  rows = experiments.current_rows(str(runs), str(record.parent), "")
  assert [c[0] for c in experiments.table_curves(rows, "2a")] == [
      "FC, 2 layers (64 hidden each)", "Convolutional, 2 layers"]


def test_run_experiment_skips_finished_rows_and_accumulates_wall_time(tmp_path, monkeypatch):
  calls = []
  monkeypatch.setattr(experiments, "run_child", lambda cmd: calls.append(cmd) or 0)
  experiment = experiments.BY_NAME["mnist28_ram6"]
  workdir = tmp_path / experiment.name
  assert experiments.run_experiment(experiment, str(tmp_path), "") == 0
  assert experiments.run_experiment(experiment, str(tmp_path), "") == 0
  assert len(calls) == 2  # Not finished (no results.json): run, then resumed.
  assert json.loads((workdir / "wall_time.json").read_text())["seconds"] >= 0
  (workdir / "config.json").write_text(json.dumps({"num_train_steps": 5}))
  (workdir / "results.json").write_text(json.dumps({"step": 5, "test_error": 0.1}))
  experiments.run_experiment(experiment, str(tmp_path), "")
  assert len(calls) == 2  # Finished: skipped.
  assert calls[0][calls[0].index("-m") + 1] == "launch.mnist"
  assert f"--config.workdir={os.path.join(str(tmp_path), experiment.name)}" in calls[0]
  assert json.loads((workdir / "command.json").read_text())["command"] == calls[0]


CHILD = """
import signal, sys, time
received = []
signal.signal(signal.SIGINT, lambda *_: received.append(1))
open(sys.argv[1], "w").write("ready")
while not received:
  time.sleep(0.01)
time.sleep(0.5)  # Time for a second, duplicated signal to arrive.
open(sys.argv[1], "w").write(str(len(received)))
sys.exit(130)
"""


# `kill` on the runner alone, then a terminal's Ctrl-C (the runner's whole process group).
@pytest.mark.parametrize("whole_group", [False, True])
def test_run_child_passes_each_stop_signal_to_the_run_once(tmp_path, whole_group):
  marker = tmp_path / "child"
  runner = subprocess.Popen(
      [sys.executable, "-c", "import sys; from common.cli import run_child; "
       f"sys.exit(run_child([sys.executable, '-c', {CHILD!r}, {str(marker)!r}]))"],
      cwd=REPO, start_new_session=True)
  deadline = time.time() + 60
  while not (marker.exists() and marker.read_text() == "ready"):
    assert time.time() < deadline and runner.poll() is None
    time.sleep(0.05)
  (os.killpg if whole_group else os.kill)(runner.pid, signal.SIGINT)
  assert runner.wait(timeout=30) == STOPPED_EXIT_CODE
  assert marker.read_text() == "1"


def test_search_samples_in_range_resumes_and_ranks_by_validation_error(tmp_path, monkeypatch):
  trials = search.sample_trials(20, seed=3)
  assert trials == search.sample_trials(20, seed=3)  # Re-running draws the same trials.
  for params in trials:
    for key, (lo, hi) in search.SPACE.items():
      assert lo <= params[key] <= hi
  calls = []

  def fake_run(cmd):  # Validation error grows with the distance of the lr from 0.05.
    calls.append(cmd)
    args = dict(a[len("--config."):].split("=", 1) for a in cmd if a.startswith("--config."))
    error = abs(np.log(float(args["learning_rate"]) / 0.05)) / 10
    os.makedirs(args["workdir"], exist_ok=True)
    with open(os.path.join(args["workdir"], "results.json"), "w") as f:
      json.dump({"step": int(args["num_train_steps"]), "validation_error": error}, f)
    return 0

  monkeypatch.setattr(search, "run_child", fake_run)
  report = tmp_path / "search.md"
  best = search.run_search("configs/ram_cluttered60.py", "", 4, 10, 3, str(tmp_path), str(report))
  sampled = search.sample_trials(4, seed=3)
  closest = min(range(4), key=lambda i: abs(np.log(sampled[i]["learning_rate"] / 0.05)))
  assert best[0] == f"trial_{closest:02d}" and len(calls) == 4
  table = [line for line in report.read_text().splitlines() if line.startswith("| trial_")]
  assert table[0].startswith(f"| trial_{closest:02d} |") and len(table) == 4
  errors = [float(line.split("|")[5].strip().rstrip("%")) for line in table]
  assert errors == sorted(errors)
  search.run_search("configs/ram_cluttered60.py", "", 4, 10, 3, str(tmp_path), str(report))
  assert len(calls) == 4  # Finished trials are not run again.
