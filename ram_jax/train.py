"""Training and evaluation of RAM and its baselines on the MNIST-family tasks (sec. 4.1).

Data parallel with `jax.sharding`: the train state and the MNIST digits are replicated on every
local device, each step's batch is generated inside jit and sharded along the batch axis, and XLA
averages the gradients (an all-reduce). The update is the same function of the global batch for any
number of devices (tests check 2 devices against 1). SGD with momentum 0.9 (sec. 4.1).

The train state is a plain dict `{params, opt_state, step, rng}` so it checkpoints as is. Step `s`
draws its batch and policy noise from `fold_in(rng, s)`, so a resumed run repeats exactly the steps
an uninterrupted run would take.
"""
from __future__ import annotations

from typing import Any, Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from ml_collections import ConfigDict

from common.workdir import with_defaults
from ram_jax import baselines, data, glimpse, losses
from ram_jax import model as model_lib

MODELS = ("ram", "fc", "conv")


# Fields added after workdirs were made, at the value that gives the code's behaviour before them
# (`migrate_config`, the one place a stored MNIST-family config is brought up to date).
ADDED_FIELDS = {"reward": "correct", "samples_per_image": 1, "squash_location": True,
                "position_weight": 0.0, "position_loss_steps": 0, "reinforce_to_core": False,
                "unroll": 1, "core_identity_init": False, "nesterov": False}


def migrate_config(stored: dict) -> dict:
  """A `launch.mnist` config as earlier code stored it (`config.json`), with today's fields."""
  return with_defaults(stored, ADDED_FIELDS)


def make_task(config: ConfigDict) -> data.Task:
  return data.Task(name=config.task, canvas=config.canvas, num_clutter=config.num_clutter)


def validate_config(config: ConfigDict, num_devices: int = 1):
  """Raises ValueError naming the bad field and the fix."""
  if config.model not in MODELS:
    raise ValueError(f"config.model={config.model!r}; use one of {', '.join(MODELS)}.")
  task = make_task(config)  # Validates the task fields.
  if config.model == "ram":
    glimpse.check_retina_args((task.canvas, task.canvas), config.glimpse_size, config.num_scales)
    if config.num_glimpses < 1:
      raise ValueError(f"num_glimpses must be >= 1, got {config.num_glimpses}.")
    if config.location_std <= 0:
      raise ValueError(f"location_std must be > 0, got {config.location_std}.")
    if config.core not in ("rnn", "lstm"):
      raise ValueError(f"config.core={config.core!r}; use 'rnn' or 'lstm'.")
    if config.reward not in losses.REWARDS:
      raise ValueError(f"config.reward={config.reward!r}; use one of {', '.join(losses.REWARDS)}.")
    if config.position_weight < 0:
      raise ValueError(f"position_weight must be >= 0 (0 is the paper's loss), got "
                       f"{config.position_weight}.")
  elif config.position_weight:
    raise ValueError(f"position_weight={config.position_weight} needs model 'ram' (the "
                     f"{config.model} baseline has no core to teach); set it to 0.")
  if config.position_loss_steps < 0 or (config.position_loss_steps and not config.position_weight):
    raise ValueError(f"position_loss_steps={config.position_loss_steps} must be >= 0 and needs "
                     f"position_weight > 0 (it is how many updates that loss applies for).")
  repeats = config.samples_per_image
  if repeats < 1 or config.batch_size % repeats:
    raise ValueError(f"samples_per_image={repeats} must be >= 1 and divide batch_size "
                     f"({config.batch_size}).")
  for field in ("batch_size", "eval_batch_size"):
    if config[field] < 1 or config[field] % num_devices:
      raise ValueError(f"{field}={config[field]} must be a positive multiple of the number of "
                       f"devices ({num_devices}).")
  if config.learning_rate <= 0:
    raise ValueError(f"learning_rate must be > 0, got {config.learning_rate}.")
  if config.lr_schedule not in ("constant", "cosine"):
    raise ValueError(f"lr_schedule={config.lr_schedule!r}; use 'constant' or 'cosine'.")


def make_model(config: ConfigDict) -> nn.Module:
  if config.model == "ram":
    return model_lib.RAM(
        glimpse_size=config.glimpse_size, num_scales=config.num_scales,
        num_glimpses=config.num_glimpses, core=config.core, hidden=config.hidden,
        glimpse_features=config.glimpse_features, location_features=config.location_features,
        glimpse_output=config.glimpse_output, location_std=config.location_std,
        reinforce_to_core=config.reinforce_to_core, squash_location=config.squash_location,
        position_head=config.position_weight > 0, unroll=config.unroll,
        core_identity_init=config.core_identity_init)
  if config.model == "fc":
    return baselines.FCBaseline(hidden=config.fc_hidden)
  if config.model == "conv":
    return baselines.ConvBaseline(filters=config.conv_filters, hidden=config.conv_hidden)
  raise ValueError(f"config.model={config.model!r}; use one of {', '.join(MODELS)}.")


def make_optimizer(config: ConfigDict) -> optax.GradientTransformation:
  """SGD with momentum (sec. 4.1), optional linear warm-up, cosine decay and gradient clipping."""
  # Short runs (tests, smoke runs) may ask for fewer steps than the warm-up: shorten it.
  warmup = min(config.warmup_steps, max(config.num_train_steps // 2, 0))
  if config.lr_schedule == "cosine":
    lr = optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, warmup, max(config.num_train_steps, warmup + 1),
        end_value=config.learning_rate * config.final_lr_fraction)
  else:
    lr = optax.linear_schedule(0.0, config.learning_rate, warmup) if warmup else config.learning_rate
  parts = [optax.clip_by_global_norm(config.max_grad_norm)] if config.max_grad_norm > 0 else []
  parts.append(optax.sgd(lr, momentum=config.momentum, nesterov=config.nesterov))
  return optax.chain(*parts)


def init_state(config: ConfigDict, model: nn.Module, optimizer, task: data.Task) -> dict:
  init_key, rng = jax.random.split(jax.random.PRNGKey(config.seed))
  dummy = jnp.zeros((2, *task.image_shape), jnp.float32)
  params = model.init(init_key, dummy, jax.random.PRNGKey(0))["params"]
  return {"params": params, "opt_state": optimizer.init(params),
          "step": jnp.zeros((), jnp.int32), "rng": rng}


def make_mesh(devices=None) -> Mesh:
  return Mesh(np.asarray(devices if devices is not None else jax.local_devices()), ("data",))


def replicate(tree: Any, mesh: Mesh) -> Any:
  return jax.device_put(tree, NamedSharding(mesh, P()))


def digit_locations(data_key: chex.PRNGKey, batch_size: int, repeats: int,
                    task: data.Task) -> chex.Array:
  """`[batch_size, 2]` locations of the digits' centres in the train step's batch (each image
  `repeats` times), the targets of `config.position_weight`'s loss."""
  centres = data.batch_digit_centres(data_key, batch_size // repeats, task)
  return jnp.repeat(glimpse.pixel_to_location(centres, *task.image_shape[:2]), repeats, axis=0)


def make_train_step(model: nn.Module, optimizer, task: data.Task, config: ConfigDict,
                    mesh: Mesh) -> Callable:
  """Returns jitted `step(state, train_images, train_labels) -> (state, metrics)`."""
  batch_sharding = NamedSharding(mesh, P("data"))
  replicated = NamedSharding(mesh, P())

  def step(state, images, labels):
    key = jax.random.fold_in(state["rng"], state["step"])
    data_key, model_key = jax.random.split(key)
    # Each image `samples_per_image` times in a row: episodes that differ only in their glimpses.
    repeats = config.samples_per_image
    x, y = data.make_batch(data_key, images, labels, config.batch_size // repeats, task)
    x, y = jnp.repeat(x, repeats, axis=0), jnp.repeat(y, repeats, axis=0)
    position_weight = config.position_weight
    if position_weight > 0:
      where = digit_locations(data_key, config.batch_size, repeats, task)
    x = jax.lax.with_sharding_constraint(x, batch_sharding)
    y = jax.lax.with_sharding_constraint(y, batch_sharding)

    def loss_fn(params):
      outputs = model.apply({"params": params}, x, model_key)
      loss, metrics = losses.hybrid_loss(outputs, y, config.reinforce_weight,
                                         config.baseline_weight, config.reward, repeats)
      if position_weight > 0:
        metrics["position_mse"] = losses.position_loss(outputs["digit_positions"], where)
        weight = position_weight
        if config.position_loss_steps:
          weight = jnp.where(state["step"] < config.position_loss_steps, weight, 0.0)
        loss = loss + weight * metrics["position_mse"]
      return loss, metrics

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state["params"])
    updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    return {"params": params, "opt_state": opt_state, "step": state["step"] + 1,
            "rng": state["rng"]}, metrics

  return jax.jit(step, out_shardings=(replicated, replicated), donate_argnums=0)


EVAL_SPLITS = ("validation", "test")


def eval_seed(config: ConfigDict, split: str) -> int:
  """The evaluation seed of `split`: each split gets its own clutter and first glimpses."""
  return config.eval_seed + 17 * EVAL_SPLITS.index(split)


def make_evaluator(model: nn.Module, task: data.Task, batch_size: int, mesh: Mesh,
                   seed: int, num_paths: int = 1) -> Callable:
  """Returns `evaluate(params, images, labels) -> {'error', 'accuracy', ...}` on a fixed set.

  Deterministic policy (mean locations). Example i is generated from `fold_in(seed, i)` (see
  ram_jax.data); the random first glimpse of batch j from `fold_in(seed + 1, j)`: one glimpse path
  per image, the paper's protocol, which gives 'error'. With `num_paths` K > 1 each image is also
  classified from K-1 more paths, each from its own random first glimpse (`fold_in(that key, k)`),
  adding 'path_errors' (each path's error; path 0's is 'error') and 'path_average_error' (argmax
  of the K paths' mean class probabilities: a test-time ensemble that takes K times the glimpses).
  """
  if num_paths < 1:
    raise ValueError(f"num_paths={num_paths} must be >= 1.")
  batch_sharding = NamedSharding(mesh, P("data"))
  data_seed = jax.random.PRNGKey(seed)
  model_seed = jax.random.PRNGKey(seed + 1)

  @jax.jit
  def count_correct(params, images, labels, index, valid, batch_number):
    x, y = data.make_eval_batch(data_seed, index, images, labels, task)
    x = jax.lax.with_sharding_constraint(x, batch_sharding)
    key = jax.random.fold_in(model_seed, batch_number)
    keys = jnp.stack([key] + [jax.random.fold_in(key, k) for k in range(1, num_paths)])

    def class_probabilities(path_key):
      logits = model.apply({"params": params}, x, path_key, deterministic=True)["logits"]
      return jax.nn.softmax(logits)

    probs = jax.lax.map(class_probabilities, keys)  # [K, B, classes]
    per_path = jnp.sum((jnp.argmax(probs, -1) == y) & valid, axis=1)
    averaged = jnp.sum((jnp.argmax(jnp.mean(probs, 0), -1) == y) & valid)
    return per_path, averaged

  def evaluate(params, images, labels):
    n = images.shape[0]
    per_path, averaged = np.zeros(num_paths), 0
    for j, start in enumerate(range(0, n, batch_size)):
      index = np.arange(start, start + batch_size)
      valid = index < n
      path_correct, average_correct = count_correct(params, images, labels,
                                                    np.minimum(index, n - 1), valid, j)
      per_path += np.asarray(path_correct)
      averaged += int(average_correct)
    accuracy = float(per_path[0]) / n
    result = {"accuracy": accuracy, "error": 1.0 - accuracy}
    if num_paths > 1:
      result["path_errors"] = [float(e) for e in 1.0 - per_path / n]
      result["path_average_error"] = 1.0 - averaged / n
    return result

  return evaluate
