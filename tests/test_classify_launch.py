"""Classifier training (s3ta_jax.classify_loop) end to end: exact resume (parameters, batch
statistics and the input iterator), outputs, errors, and `launch.classify`'s `:mock` smoke run on
tfds mock ImageNet."""
import json
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from common.checkpoint import Checkpointer
from common.errors import UsageError
from common.metrics import read_metrics
from configs import s3ta_cluttered60
from s3ta_jax import classify_loop
from s3ta_jax import classifier, supervised
from test_ram_data import write_mnist

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(data_dir, workdir, **overrides):
  c = s3ta_cluttered60.get_config()
  m = c.model
  m.image_size = 32
  m.resnet_stages, m.resnet_width = (1, 1), 4
  m.key_channels, m.num_heads = 3, 2
  m.query_hidden, m.policy_hidden = (8,), (8,)
  m.sequence_length = 2
  c.update(dict(num_clutter=2, batch_size=8, eval_batch_size=8, num_train_steps=6,
                eval_every_steps=3, warmup_steps=2, lr_boundaries=(4,), progress_every_s=0.0,
                checkpoint_every_s=0.0, data_dir=str(data_dir), workdir=str(workdir)))
  c.update(overrides)
  return c


def restore(workdir, config):
  model = classifier.make_classifier(config.model, 10)
  like = supervised.init_state(model, supervised.make_optimizer(config), config.seed)
  ckpt = Checkpointer(str(workdir), with_data_state=True)
  step = ckpt.latest_step()
  state, data_state = ckpt.restore(like, with_data_state=True)
  ckpt.close()
  return step, state, data_state


def test_end_to_end_and_exact_resume(tmp_path):
  write_mnist(tmp_path / "mnist", num_train=40, num_test=12)
  straight = tiny_config(tmp_path / "mnist", tmp_path / "straight", num_validation=8)
  results = classify_loop.train(straight)
  assert results["step"] == 6 and results["num_examples"] == 12
  assert len(results["step_top1_error"]) == 2
  in_box = np.asarray(results["attention_in_box"])  # [T, heads], fractions of each map.
  assert in_box.shape == (2, 2) and np.all((0 <= in_box) & (in_box <= 1))
  records = read_metrics(str(tmp_path / "straight"))
  assert [r["step"] for r in records if "top1_error" in r] == [3, 6]
  with open(tmp_path / "straight" / "results.json") as f:
    assert json.load(f) == results

  # Killed after step 4's checkpoint, re-run: the same end state as the uninterrupted run, which
  # needs the input iterator to resume where it was (40 records: the epoch turns at step 5).
  resumed = tiny_config(tmp_path / "mnist", tmp_path / "resumed", num_validation=8)
  assert classify_loop.train(resumed, stop_at=4) is None
  step, _, data_state = restore(tmp_path / "resumed", straight)
  assert step == 4 and len(data_state["iterators"]) == 1
  classify_loop.train(tiny_config(tmp_path / "mnist", tmp_path / "resumed", num_validation=8))
  (_, a, _), (_, b, _) = restore(tmp_path / "straight", straight), restore(tmp_path / "resumed", straight)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)

  # Resuming under a different model is refused, naming the field.
  changed = tiny_config(tmp_path / "mnist", tmp_path / "resumed", num_validation=8)
  changed.model.num_heads = 3
  with pytest.raises(UsageError, match="model.num_heads"):
    classify_loop.train(changed)


def test_mismatched_image_size_is_one_clear_error(tmp_path, monkeypatch):
  write_mnist(tmp_path / "mnist", num_train=20, num_test=8)
  config = tiny_config(tmp_path / "mnist", tmp_path / "w", num_validation=4, num_clutter=1)
  build = classify_loop.build_pipeline

  def wrong_size(c):  # A dataset whose images are not the model's size.
    pipeline = build(c)
    pipeline.image_shape = (40, 40, 1)
    return pipeline

  monkeypatch.setattr(classify_loop, "build_pipeline", wrong_size)
  with pytest.raises(UsageError, match="image_size"):
    classify_loop.train(config)
  with pytest.raises(UsageError, match="workdir"):
    classify_loop.train(tiny_config(tmp_path / "mnist", ""))


def test_mock_config_trains_on_tfds_mock_imagenet_without_tensorflow(tmp_path):
  workdir = tmp_path / "mock"
  code = ("import sys, runpy\n"
          "sys.argv = ['classify', '--config=configs/s3ta_imagenet.py:mock', "
          f"'--config.workdir={workdir}']\n"
          "try:\n  runpy.run_module('launch.classify', run_name='__main__')\n"
          "except SystemExit as e:\n  assert not e.code, e.code\n"
          "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n")
  done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                        timeout=300, env={**os.environ, "XLA_FLAGS": ""})
  assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
  with open(workdir / "results.json") as f:
    results = json.load(f)
  assert results["step"] == 4 and results["images"] == 32 and results["num_examples"] == 64
  assert 0.0 <= results["top5_error"] <= results["top1_error"] <= 1.0


def test_a_diverged_run_stops_with_one_error_and_saves_no_nan(tmp_path):
  write_mnist(tmp_path / "mnist", num_train=20, num_test=8)
  config = tiny_config(tmp_path / "mnist", tmp_path / "w", num_validation=4, learning_rate=1e30,
                       warmup_steps=0, num_train_steps=4, eval_every_steps=0)
  with pytest.raises(UsageError, match="diverged") as error:
    classify_loop.train(config)
  # Checkpoints are due every step here: whatever was kept before the divergence is finite.
  kept = re.search(r"last checkpoint \(step (\w+)\)", str(error.value)).group(1)
  if kept != "None":
    step, state, _ = restore(tmp_path / "w", config)
    assert step == int(kept) < 4
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(state))


def test_the_baselines_train_through_the_same_launch(tmp_path):
  write_mnist(tmp_path / "mnist", num_train=20, num_test=8)
  config = tiny_config(tmp_path / "mnist", tmp_path / "w", num_validation=4, num_train_steps=2,
                       eval_every_steps=0)
  config.model.kind = "recurrent_resnet"
  results = classify_loop.train(config)
  assert results["kind"] == "recurrent_resnet" and len(results["step_top1_error"]) == 2
  assert "attention_in_box" not in results  # No attention maps to measure.
