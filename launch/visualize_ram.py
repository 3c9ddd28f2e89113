"""Pictures of a trained RAM run: glimpse paths (like Fig. 3 of Mnih et al. 2014) and learning curves.

  python -m launch.visualize_ram --workdir=workdirs/ram_mnist [--out_dir=docs/figures/ram_mnist]

Writes `glimpse_paths.png` (each row: the test image with the glimpse path, first glimpse a filled
circle, last a hollow one, green when classified right and red when wrong; then what each glimpse
saw, its coarser scales up-sampled around the full-resolution centre) and `learning_curve.png`
(validation/test error against training images) into `--out_dir` (default `WORKDIR/figures`).
Works on any workdir written by `launch.mnist`, finished or not (it uses the latest checkpoint).
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.ticker
import numpy as np
from absl import app, flags, logging
from ml_collections import ConfigDict

matplotlib.use("Agg")  # Files only; no display on servers.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from launch import runtime
from ram_jax import data, train



def load_run(workdir: str) -> tuple[ConfigDict, dict]:
  """The run's config and its latest parameters."""
  config_path = os.path.join(workdir, "config.json")
  if not os.path.exists(config_path):
    raise runtime.UsageError(f"{workdir} has no config.json; is it a launch.mnist workdir?")
  with open(config_path) as f:
    config = ConfigDict(json.load(f))
  if config.model != "ram":
    raise runtime.UsageError(f"{workdir} trained a {config.model!r} baseline, which takes no glimpses.")
  checkpointer = runtime.Checkpointer(workdir)
  if checkpointer.latest_step() is None:
    raise runtime.UsageError(f"{workdir} has no checkpoint yet; let the run save one first.")
  model, task = train.make_model(config), train.make_task(config)
  state = train.init_state(config, model, train.make_optimizer(config), task)
  state = checkpointer.restore(state)
  checkpointer.close()
  return config, state["params"]


def foveated_view(glimpse: np.ndarray) -> np.ndarray:
  """`[K, s, s]` scales -> one `[s·2^(K-1)]²` image: each scale up-sampled, finer ones on top."""
  num_scales, size = glimpse.shape[:2]
  widest = size * 2**(num_scales - 1)
  view = np.zeros((widest, widest), glimpse.dtype)
  for k in reversed(range(num_scales)):
    width = size * 2**k
    offset = widest // 2 - width // 2
    view[offset:offset + width, offset:offset + width] = np.kron(glimpse[k], np.ones((2**k, 2**k)))
  return view


def glimpse_centres_in_pixels(locations: np.ndarray, height: int, width: int) -> np.ndarray:
  """`[T, 2]` (x, y) locations -> imshow coordinates of the glimpse centres (see ram_jax.glimpse)."""
  x = np.floor((np.clip(locations[:, 0], -1, 1) + 1) / 2 * width + 0.5) - 0.5
  y = np.floor((np.clip(locations[:, 1], -1, 1) + 1) / 2 * height + 0.5) - 0.5
  return np.stack([x, y], axis=-1)


def plot_glimpse_paths(images, labels, outputs, path: str):
  """Fig. 3-style figure of the deterministic policy on the given test images."""
  predictions = np.argmax(outputs["logits"], -1)
  num, steps = outputs["locations"].shape[:2]
  height, width = images.shape[1:3]
  fig, axes = plt.subplots(num, steps + 1, figsize=(1.6 * (steps + 1), 1.6 * num), squeeze=False)
  for i in range(num):
    colour = "limegreen" if predictions[i] == labels[i] else "red"
    ax = axes[i, 0]
    ax.imshow(images[i, ..., 0], cmap="gray", vmin=0, vmax=1)
    centres = glimpse_centres_in_pixels(outputs["locations"][i], height, width)
    ax.plot(centres[:, 0], centres[:, 1], "-", color=colour, lw=1.5)
    ax.plot(*centres[0], "o", color=colour, ms=6)
    ax.plot(*centres[-1], "o", mfc="none", mec=colour, ms=8, mew=1.5)
    ax.set_title(f"label {labels[i]} → {predictions[i]}", fontsize=7, color=colour)
    for t in range(steps):
      axes[i, t + 1].imshow(foveated_view(outputs["glimpses"][i, t, ..., 0]), cmap="gray",
                            vmin=0, vmax=1)
      if i == 0:
        axes[i, t + 1].set_title(f"glimpse {t + 1}", fontsize=7)
  for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def plot_learning_curve(records: list[dict], batch_size: int, title: str, path: str) -> bool:
  """Validation/test error against training images; False when there is nothing to plot."""
  evals = [r for r in records if "test_error" in r]
  if not evals:
    return False
  images = np.array([r["step"] * batch_size for r in evals])
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for key in ("validation_error", "test_error"):
    if key in evals[0]:
      ax.plot(images, [100 * r[key] for r in evals], "o-", ms=3, label=key.replace("_", " "))
  ax.set_xlabel("training images")
  ax.set_ylabel("error (%)")
  ax.set_yscale("log")
  for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
    axis(matplotlib.ticker.FormatStrFormatter("%g"))
  ax.grid(True, which="both", alpha=0.3)
  ax.set_title(title, fontsize=9)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return True


def visualize(workdir: str, out_dir: str | None = None, num_examples: int = 8,
              data_dir: str | None = None) -> list[str]:
  """Writes the figures for one run; returns their paths."""
  config, params = load_run(workdir)
  out_dir = out_dir or os.path.join(workdir, "figures")
  os.makedirs(out_dir, exist_ok=True)
  try:
    splits = data.load_mnist(data_dir or config.data_dir or None, config.num_validation)
  except (ValueError, FileNotFoundError) as e:
    raise runtime.UsageError(f"{e} (pass --data_dir if the data moved)") from None
  task, model = train.make_task(config), train.make_model(config)
  test_images, test_labels = splits["test"]
  # The same test images the run was evaluated on (launch.mnist's test seed).
  images, labels = data.make_eval_batch(jax.random.PRNGKey(config.eval_seed + 17),
                                        jnp.arange(num_examples), test_images, test_labels, task)
  outputs = model.apply({"params": params}, images, jax.random.PRNGKey(config.eval_seed + 18),
                        deterministic=True)
  outputs = jax.device_get(outputs)
  written = [os.path.join(out_dir, "glimpse_paths.png")]
  plot_glimpse_paths(np.asarray(images), np.asarray(labels), outputs, written[0])
  title = (f"RAM {config.task} {config.canvas}x{config.canvas}, {config.num_glimpses} glimpses, "
           f"{config.glimpse_size}x{config.glimpse_size}, {config.num_scales} scale(s)")
  curve = os.path.join(out_dir, "learning_curve.png")
  if plot_learning_curve(runtime.read_metrics(workdir), config.batch_size, title, curve):
    written.append(curve)
  return written


def define_flags():
  """Flags exist only when run as a program, so tests can import several launch modules."""
  flags.DEFINE_string("workdir", None, "A launch.mnist workdir.")
  flags.DEFINE_string("out_dir", None, "Where to write the PNGs (default WORKDIR/figures).")
  flags.DEFINE_integer("num_examples", 8, "Test images to draw.")
  flags.DEFINE_string("data_dir", None, "MNIST idx directory, if not the run's own.")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  if not f.workdir:
    raise runtime.UsageError("pass --workdir=DIR (a launch.mnist workdir).")
  for path in visualize(f.workdir, f.out_dir, f.num_examples, f.data_dir):
    print(f"wrote {path}")


if __name__ == "__main__":
  define_flags()
  app.run(lambda argv: runtime.run_main(main, argv))
