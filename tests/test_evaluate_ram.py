"""Evaluation over several glimpse paths per image (train.make_evaluator, ram_jax.evaluation)."""
import jax
import numpy as np
import pytest

from common.errors import UsageError
from ram_jax import data, evaluation, mnist_loop, train
from test_mnist_launch import tiny_config
from test_ram_data import write_mnist


def reference_class_probabilities(config, params, images, labels, seed, num_paths):
  """[paths, images, classes]: each batch's examples and first glimpses drawn as make_evaluator's
  docstring says, one model.apply per path and batch, softmax in float64."""
  model, task = train.make_model(config), train.make_task(config)
  apply = jax.jit(model.apply, static_argnames="deterministic")
  n, batch = len(labels), config.eval_batch_size
  probs = np.zeros((num_paths, n, 10))
  for j, start in enumerate(range(0, n, batch)):
    index = np.minimum(np.arange(start, start + batch), n - 1)
    x, _ = data.make_eval_batch(jax.random.PRNGKey(seed), index, images, labels, task)
    key = jax.random.fold_in(jax.random.PRNGKey(seed + 1), j)
    stop = min(start + batch, n)
    for k in range(num_paths):
      path_key = key if k == 0 else jax.random.fold_in(key, k)
      logits = np.asarray(apply({"params": params}, x, path_key, deterministic=True)["logits"],
                          np.float64)
      p = np.exp(logits - logits.max(-1, keepdims=True))
      probs[k, start:stop] = (p / p.sum(-1, keepdims=True))[:stop - start]
  return probs


def test_path_errors_and_their_average_match_a_loop(tmp_path):
  # 40 digits in batches of 16: the last batch is padded, and padding must not count.
  config = tiny_config(tmp_path, tmp_path, eval_batch_size=16)
  model, task = train.make_model(config), train.make_task(config)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
  # Larger weights than init's, so that the paths' predictions differ.
  params = jax.tree.map(lambda p: p + rng.normal(size=p.shape).astype(np.float32),
                        train.init_state(config, model, train.make_optimizer(config), task)["params"])
  probs = reference_class_probabilities(config, params, images, np.zeros(40, np.int32), 7, 3)
  assert not np.allclose(probs[0], probs[1]), "paths should start from different first glimpses"
  # Labels that the average gets right on even digits and path 1 on odd ones: the errors then
  # tell which predictions were counted.
  labels = np.where(np.arange(40) % 2 == 0, np.argmax(probs.mean(0), -1), np.argmax(probs[1], -1))
  labels = labels.astype(np.int32)
  path_errors = [np.mean(np.argmax(p, -1) != labels) for p in probs]
  average_error = np.mean(np.argmax(probs.mean(0), -1) != labels)
  assert average_error != path_errors[0] != path_errors[1]

  mesh = train.make_mesh(jax.local_devices()[:1])
  out = train.make_evaluator(model, task, 16, mesh, seed=7, num_paths=3)(params, images, labels)
  np.testing.assert_allclose(out["path_errors"], path_errors)
  np.testing.assert_allclose(out["path_average_error"], average_error)
  np.testing.assert_allclose(out["error"], path_errors[0])
  single = train.make_evaluator(model, task, 16, mesh, seed=7)(params, images, labels)
  assert single == pytest.approx({"accuracy": 1 - path_errors[0], "error": path_errors[0]})


def test_path_zero_is_the_runs_own_evaluation(tmp_path):
  write_mnist(tmp_path / "mnist", num_train=80, num_test=24)
  results = mnist_loop.train(tiny_config(tmp_path / "mnist", tmp_path / "run"))
  out = evaluation.evaluate_paths(str(tmp_path / "run"), num_paths=2)
  assert out["images"] == 24 and len(out["path_errors"]) == 2
  np.testing.assert_allclose(out["path_errors"][0], results["test_error"])

  with pytest.raises(UsageError, match="--paths=0 must be >= 1"):
    evaluation.evaluate_paths(str(tmp_path / "run"), num_paths=0)
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "config.json").write_text((tmp_path / "run" / "config.json").read_text())
  with pytest.raises(UsageError, match="has no checkpoint yet"):
    evaluation.evaluate_paths(str(tmp_path / "empty"), num_paths=2)
  (tmp_path / "catch").mkdir()
  (tmp_path / "catch" / "config.json").write_text('{"num_glimpses": 8, "retina_size": 6}')
  with pytest.raises(UsageError, match="not a launch.mnist workdir"):
    evaluation.evaluate_paths(str(tmp_path / "catch"), num_paths=2)
