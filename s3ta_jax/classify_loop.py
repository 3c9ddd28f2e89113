"""Trains an S3TA image classifier or a ResNet baseline (Mott et al. 2019, section 4.2.1, A.3.1)
in a workdir, resuming from its last checkpoint: `python -m launch.classify` calls `train`.

Writes `config.json`, `metrics.jsonl` and TensorBoard events (train metrics every
`progress_every_s`; top-1/top-5 error every `eval_every_steps`), orbax checkpoints (parameters,
batch statistics, optimizer state, step, and every process's input-iterator state, so a resumed
run sees the batches it would have seen) and, at the end, `results.json`. Data parallel over
every device JAX sees, on one host or many (WORKSPACE.md).
"""
from __future__ import annotations

import contextlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

from common import loop
from common.checkpoint import Checkpointer
from common.distributed import init_distributed
from common.errors import UsageError
from common.metrics import MetricMeans, step_progress
from common.workdir import claim_workdir, guard_config, write_json_atomic
from common.workdir import load_workdir as load_run
from ram_jax import train as ram_train
from s3ta_jax import input_pipeline
from s3ta_jax import supervised
from s3ta_jax import video_classifier

DATASETS = ("imagenet2012", "cluttered_mnist", "kinetics")
_STATE_BYTES = 8192  # Room for one process's grain iterator state in the all-gather.


def build_pipeline(config) -> input_pipeline.Pipeline:
  if config.dataset == "imagenet2012":
    return input_pipeline.imagenet(config.model.image_size, config.data_dir or None)
  if config.dataset == "cluttered_mnist":
    return input_pipeline.cluttered_mnist(config.data_dir or None, config.model.image_size,
                                          config.num_clutter, config.eval_seed,
                                          config.num_validation)
  if config.dataset == "kinetics":
    m = config.model
    if config.mock:
      return input_pipeline.synthetic_clips(config.mock_examples, m.num_frames, m.image_size,
                                            m.image_channels, config.mock_classes, config.seed)
    if not config.data_dir:
      raise ValueError("set --config.data_dir to a dataset built by python -m "
                       "launch.prepare_kinetics (the directory it printed).")
    return input_pipeline.kinetics(config.data_dir, m.image_size, flip=config.flip_clips)
  raise ValueError(f"dataset {config.dataset!r} is not one of {DATASETS}.")


def gather_iterator_states(iterator) -> list[str]:
  """Every process's grain iterator state (each reads its own shard), in process order."""
  state = iterator.get_state()
  if len(state) > _STATE_BYTES:
    raise RuntimeError(f"grain iterator state is {len(state)} bytes, over {_STATE_BYTES}.")
  buffer = np.zeros(_STATE_BYTES + 4, np.uint8)
  buffer[:4] = np.frombuffer(np.uint32(len(state)).tobytes(), np.uint8)
  buffer[4:4 + len(state)] = np.frombuffer(state, np.uint8)
  if jax.process_count() > 1:
    rows = np.asarray(multihost_utils.process_allgather(buffer)).reshape(jax.process_count(), -1)
  else:
    rows = buffer[None]
  return [bytes(r[4:4 + int(np.frombuffer(r[:4].tobytes(), np.uint32)[0])]).decode() for r in rows]


def train(config, stop_at: int | None = None, command: list[str] | None = None) -> dict | None:
  """Trains and evaluates per `config`; returns the results also written to results.json.

  `stop_at` ends the session after that step's checkpoint, as a kill would (for tests);
  `command` (the launch's argv) is kept in `command.json` for run records.
  """
  if not config.workdir:
    raise UsageError("no workdir: pass --config.workdir=DIR (e.g. workdirs/s3ta_imagenet).")
  init_distributed(config)
  with tfds_mock(config):
    try:
      print(f"preparing the {config.dataset} input pipeline...", flush=True)
      pipeline = build_pipeline(config)
      model = supervised.make_model(config.model, pipeline.num_classes)
      m = config.model
      expected = (m.image_size, m.image_size, m.image_channels)
      if m.kind in video_classifier.KINDS:
        expected = (m.num_frames,) + expected
      if pipeline.image_shape != expected:
        raise ValueError(f"the data gives {pipeline.image_shape} inputs but the model expects "
                         f"{expected} (num_frames, image_size, image_channels); set "
                         "--config.model.* to match.")
      for field in ("batch_size", "eval_batch_size"):
        input_pipeline.process_batch_size(config[field], field)
        if config[field] % jax.device_count():
          raise ValueError(f"{field}={config[field]} must be a multiple of the "
                           f"{jax.device_count()} devices.")
    except (ValueError, FileNotFoundError) as e:
      raise UsageError(str(e)) from None
    claim_workdir(config.workdir)
    guard_config(config.workdir, config, supervised.migrate_config)
    if command and jax.process_index() == 0:
      write_json_atomic(os.path.join(config.workdir, "command.json"), {"command": command})
    return _train(config, pipeline, model, stop_at)


def tfds_mock(config):
  """`config.mock`: tfds's offline mock examples in place of the prepared dataset."""
  if not config.mock:
    return contextlib.nullcontext()
  import tensorflow_datasets as tfds
  return tfds.testing.mock_data(num_examples=config.mock_examples,
                                policy=tfds.testing.MockPolicy.USE_CODE)


def _train(config, pipeline, model, stop_at: int | None) -> dict | None:
  mesh = ram_train.make_mesh(jax.devices())
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, P("data"))
  optimizer = supervised.make_optimizer(config)
  state = supervised.init_state(model, optimizer, config.seed)
  iterator = iter(input_pipeline.train_loader(pipeline, config.batch_size, config.seed,
                                              config.worker_count))
  checkpointer = Checkpointer(config.workdir, with_data_state=True)
  if checkpointer.latest_step() is not None:
    state, data_state = checkpointer.restore(state, with_data_state=True,
                                             set_aside_damaged=True)
    if len(data_state["iterators"]) != jax.process_count():
      raise UsageError(
          f"{config.workdir} was written by {len(data_state['iterators'])} process(es); resume "
          f"it with that many (each process's input position is saved), not {jax.process_count()}.")
    iterator.set_state(data_state["iterators"][jax.process_index()].encode())
    print(f"resumed from step {int(state['step'])} in {config.workdir}", flush=True)
  state = jax.device_put(state, replicated)
  step_fns: dict[int, callable] = {}
  eval_fn = supervised.make_eval_step(model, mesh, with_boxes=config.dataset == "cluttered_mnist")

  def to_device(batch: dict) -> dict:
    return {k: jax.make_array_from_process_local_data(batch_sharding, np.asarray(v))
            for k, v in batch.items()}

  start, total = int(state["step"]), config.num_train_steps
  progress = step_progress(config, start, headline={"loss": "loss", "accuracy": "accuracy"})
  n_params = sum(x.size for x in jax.tree.leaves(state["params"]))
  print(f"{config.model.kind} (T={supervised.sequence_length_at(config, total)}) on {config.dataset}"
        f"{' (mock)' if config.mock else ''}: {n_params:,} parameters, {jax.device_count()} "
        f"device(s), {jax.process_count()} process(es), steps {start}->{total}, batch "
        f"{config.batch_size}", flush=True)
  means = MetricMeans()

  def step_fn(step):
    nonlocal state
    length = supervised.sequence_length_at(config, step)
    if length not in step_fns:
      print(f"compiling the training step at T={length} (the first step takes longer)",
            flush=True)
      step_fns[length] = supervised.make_train_step(model, optimizer, mesh, length)
    batch = to_device(next(iterator))
    state, metrics = step_fns[length](state, batch["image"], batch["label"])
    means.add(metrics, config.batch_size)
    return step + 1, False

  def check_finite(step):
    """A diverged run stops before it saves; a step's loss is of the parameters before its
    update, so the updated state is checked too."""
    loss = means.mean("loss")
    if not (np.isfinite(loss) and bool(all_finite(state))):
      raise UsageError(
          f"training diverged: the loss is {loss} by step {step} (or the parameters are not "
          f"finite); the last checkpoint (step {checkpointer.latest_step()}) is kept. Lower "
          "--config.learning_rate or set --config.max_grad_norm, in a new workdir.")

  def report(step):
    if jax.process_count() == 1:  # Several processes check where all agree: at checkpoints.
      check_finite(step)
    values, items = means.take()
    progress.update(step, items, values, force=True)

  def evaluate(step) -> dict:
    totals = None
    for batch in input_pipeline.eval_batches(pipeline, config.eval_batch_size,
                                             config.num_eval_examples, config.worker_count):
      counts = jax.device_get(eval_fn(state, to_device(batch)))
      totals = counts if totals is None else jax.tree.map(np.add, totals, counts)
    result = supervised.summarize(totals)
    progress.write(step, {"top1_error": result["top1_error"], "top5_error": result["top5_error"]})
    print(f"[eval step {step}] top1_error={result['top1_error']:.4f} "
          f"top5_error={result['top5_error']:.4f}", flush=True)
    return result

  def save(step, wait):
    checkpointer.save(step, state, data_state={"iterators": gather_iterator_states(iterator)},
                      wait=wait)

  outcome, result = loop.train_and_evaluate(
      start, step_fn, total=total, eval_every_steps=config.eval_every_steps,
      checkpoint_every_s=config.checkpoint_every_s, save=save, report=report,
      report_every_s=config.progress_every_s, evaluate=evaluate, before_save=check_finite,
      stop_at=stop_at, closing=(checkpointer, progress))
  if outcome.stopped:
    return None
  step = outcome.step
  results = {"step": step, "images": step * config.batch_size, "kind": config.model.kind,
             "sequence_length": supervised.sequence_length_at(config, step),
             "dataset": pipeline.name or config.dataset, **result}
  if jax.process_index() == 0:
    write_json_atomic(os.path.join(config.workdir, "results.json"), results)
  print("results: " + json.dumps(results), flush=True)
  return results


@jax.jit
def all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in jax.tree.leaves(tree)
                            if jnp.issubdtype(x.dtype, jnp.inexact)]))


def load_workdir(workdir: str):
  """(config, pipeline, model, state) of a launch.classify workdir's latest checkpoint."""
  def mismatch(config):
    if "model" not in config or "mock" not in config:
      return "is not a launch.classify workdir."
    return None

  def restore(config, checkpointer):
    with tfds_mock(config):
      pipeline = build_pipeline(config)
    model, state = supervised.restore(config, pipeline.num_classes, checkpointer)
    return config, pipeline, model, state
  return load_run(workdir, restore, mismatch, supervised.migrate_config, with_data_state=True)
