"""Training and evaluation steps of the S3TA classifiers (appendix A.3): SGD with momentum 0.9,
a step schedule (x0.1 at each boundary), weight decay, cross-entropy on the final accumulated
logits; data parallel over a 1-D `data` mesh (batch split, parameters replicated)."""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from common.workdir import with_defaults
from s3ta_jax import classifier as classifier_lib
from s3ta_jax import video_classifier


# Fields added after workdirs were made, at the value that gives the code's behaviour before them.
ADDED_FIELDS = {"flip_clips": True, "max_grad_norm": 0.0}


def migrate_config(stored: dict) -> dict:
  """A `launch.classify` config as earlier code stored it (`config.json`), with today's fields."""
  return with_defaults(stored, ADDED_FIELDS)


def make_optimizer(config) -> optax.GradientTransformation:
  """SGD, momentum `config.momentum`, lr `config.learning_rate` x0.1 at each of
  `config.lr_boundaries`, counted from the end of `config.warmup_steps` of linear warm-up (so
  with warm-up w the drops come at steps w + b), L2 weight decay
  `config.weight_decay` on the convolution and dense kernels; gradients clipped to global norm
  `config.max_grad_norm` first when it is set (not in the paper)."""
  schedule = optax.piecewise_constant_schedule(
      config.learning_rate, {int(b): 0.1 for b in config.lr_boundaries})
  if config.warmup_steps:
    warmup = optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)
    schedule = optax.join_schedules([warmup, schedule], [config.warmup_steps])
  kernels = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)
  parts = [optax.clip_by_global_norm(config.max_grad_norm)] if config.max_grad_norm else []
  return optax.chain(*parts, optax.add_decayed_weights(config.weight_decay, mask=kernels),
                     optax.sgd(schedule, momentum=config.momentum))


def make_model(model_config, num_classes: int):
  """The image classifier (`classifier.py`) or, for kind "s3ta_video", the video classifier."""
  if model_config.kind in video_classifier.KINDS:
    return video_classifier.make_video_classifier(model_config, num_classes)
  return classifier_lib.make_classifier(model_config, num_classes)


def init_state(model, optimizer, seed: int) -> dict:
  init = (video_classifier.init_variables if isinstance(model, video_classifier.VideoClassifier)
          else classifier_lib.init_variables)
  variables = init(model, jax.random.PRNGKey(seed))
  return {"params": variables["params"], "batch_stats": variables["batch_stats"],
          "opt_state": optimizer.init(variables["params"]), "step": jnp.zeros((), jnp.int32)}


def sequence_length_at(config, step: int) -> int:
  """T at `step`: `initial_sequence_length` until `sequence_length_switch_step`, then the model's
  (A.3.1: the length-8 run trains at length 4 for its first 100k steps)."""
  if config.initial_sequence_length and step < config.sequence_length_switch_step:
    return config.initial_sequence_length
  if config.model.kind in video_classifier.KINDS:
    return config.model.num_frames  # One read per frame.
  return config.model.sequence_length


def top_k_correct(logits: jax.Array, labels: jax.Array, k: int) -> jax.Array:
  """[B] bool: the label is among the k largest logits."""
  top = jax.lax.top_k(logits, min(k, logits.shape[-1]))[1]
  return jnp.any(top == labels[:, None], axis=-1)


def make_train_step(model, optimizer, mesh: Mesh, sequence_length: int) -> Callable:
  """Jitted `step(state, images, labels) -> (state, metrics)` at a fixed T."""
  replicated = NamedSharding(mesh, P())

  def step(state, images, labels):
    def loss_fn(params):
      out, updates = model.apply({"params": params, "batch_stats": state["batch_stats"]}, images,
                                 train=True, sequence_length=sequence_length,
                                 mutable=["batch_stats"])
      loss = optax.softmax_cross_entropy_with_integer_labels(out.logits, labels).mean()
      return loss, (out, updates["batch_stats"])

    (loss, (out, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
    updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
    metrics = {"loss": loss, "accuracy": jnp.mean(jnp.argmax(out.logits, -1) == labels),
               "grad_norm": optax.tree.norm(grads)}
    return {"params": optax.apply_updates(state["params"], updates), "batch_stats": batch_stats,
            "opt_state": opt_state, "step": state["step"] + 1}, metrics

  return jax.jit(step, out_shardings=(replicated, replicated), donate_argnums=0)


def attention_in_box(maps: jax.Array, boxes: jax.Array, image_size: int,
                     box_size: int = 28) -> jax.Array:
  """Attention mass inside each image's box: maps [T, B, N, h, w], boxes [B, 2] (top, left) in
  pixels -> [T, B, N]. Cell i covers pixels [i*s, min((i+1)*s, image_size)) with s =
  ceil(image_size / h), the ResNet's stride under 'SAME' padding (as `interpret.upsample`); its
  mass counts by the fraction of its pixels inside the box."""
  h, w = maps.shape[-2:]

  def overlap(lo, cells):  # [B, cells]: fraction of each cell's pixels inside [lo, lo + box).
    stride = -(-image_size // cells)
    start = jnp.arange(cells) * stride
    stop = jnp.minimum(start + stride, image_size)
    inside = jnp.clip(jnp.minimum(stop, lo[:, None] + box_size) - jnp.maximum(start, lo[:, None]),
                      0, None)
    return inside / jnp.maximum(stop - start, 1)

  rows = overlap(boxes[:, 0], h)
  cols = overlap(boxes[:, 1], w)
  return jnp.einsum("tbnhw,bh,bw->tbn", maps, rows, cols)


def make_eval_step(model, mesh: Mesh, with_boxes: bool) -> Callable:
  """Jitted `counts(state, batch) -> dict of sums over the batch`: top-1/top-5 correct, top-1
  correct after each step, the number of real examples and, with boxes, attention mass in the box
  per step and head."""
  del mesh  # Inputs arrive sharded; sums are reduced by XLA.

  def counts(state, batch):
    out = model.apply({"params": state["params"], "batch_stats": state["batch_stats"]},
                      batch["image"], train=False)
    mask = batch["mask"]
    labels = batch["label"]
    result = {
        "count": jnp.sum(mask),
        "top1": jnp.sum(top_k_correct(out.logits, labels, 1) * mask),
        "top5": jnp.sum(top_k_correct(out.logits, labels, 5) * mask),
        "step_top1": jnp.sum((jnp.argmax(out.step_logits, -1) == labels) * mask, axis=1),
    }
    if with_boxes and out.attention.shape[2]:
      mass = attention_in_box(out.attention, batch["box"], batch["image"].shape[1])
      result["in_box"] = jnp.sum(mass * mask[None, :, None], axis=1)  # [T, N]
    return result

  return jax.jit(counts)


def summarize(totals: dict) -> dict[str, Any]:
  """Errors and per-step numbers from summed counts."""
  n = float(totals["count"])
  result = {"top1_error": 1.0 - float(totals["top1"]) / n,
            "top5_error": 1.0 - float(totals["top5"]) / n, "num_examples": int(n),
            "step_top1_error": [1.0 - float(c) / n for c in np.asarray(totals["step_top1"])]}
  if "in_box" in totals:
    result["attention_in_box"] = (np.asarray(totals["in_box"]) / n).tolist()  # [T][N]
  return result


def restore(config, num_classes: int, checkpointer):
  """(model, state) from the latest checkpoint of a `launch.classify` run. `checkpointer` is the
  object the run saved with (`common.checkpoint.Checkpointer(workdir, with_data_state=True)`)."""
  model = make_model(config.model, num_classes)
  return model, checkpointer.restore(init_state(model, make_optimizer(config), config.seed))
