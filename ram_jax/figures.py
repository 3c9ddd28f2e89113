"""Pictures of a trained RAM run: glimpse paths (like Fig. 3 of Mnih et al. 2014), learning curves,
and, for a Catch run (sec. 4.2), an animated GIF of the agent with its retina drawn on the screen;
and the paper tables' learning curves of `docs/results.md` (`plot_table_curves`).
`python -m launch.visualize_ram` calls `visualize`, which writes `glimpse_paths.png` (each row:
the test image with the glimpse path, first glimpse a filled circle, last a hollow one, green when classified right and red when wrong; then what each glimpse
saw, its coarser scales up-sampled around the full-resolution centre) and `learning_curve.png`
(validation/test error against training images) and `policy_stats.json` (per glimpse, over 1,000
test images: the median pixel distance to the digit's centre and the fraction of glimpses centred
inside the digit's 28×28 box, against glimpses fixed on the image's centre and a hand-made policy
that looks at the brightest blob of its glimpse's coarsest scale: does the policy find the digit?)
into `out_dir` (default `WORKDIR/figures`).
For a `launch.catch` workdir it writes `catch.gif` (a few greedy games; the retina's three
squares in red, orange and yellow from finest to coarsest; a green/red frame when the ball is
caught/missed) and `catch_rate.png` (greedy catch rate against frames). Works on any workdir,
finished or not: it uses the latest checkpoint.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.ticker
import numpy as np
from ml_collections import ConfigDict
from PIL import Image, ImageDraw

matplotlib.use("Agg")  # Files only; no display on servers.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from common.errors import UsageError
from common.metrics import after_resumes, read_metrics
from common.workdir import read_workdir_config, write_json_atomic
from ram_jax import analysis, catch, catch_agent, data, glimpse, train
from ram_jax import workdir as ram_workdir


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
  """`[T, 2]` (x, y) locations -> imshow (x, y) of the pixel edge the sensor centres on."""
  row_col = np.asarray(glimpse.location_to_pixel(np.clip(locations, -1, 1), height, width))
  return row_col[:, ::-1] - 0.5  # imshow puts pixel edges at half-integers.


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
  evals = after_resumes([r for r in records if "test_error" in r])
  if not evals:
    return False
  images = np.array([r["step"] * batch_size for r in evals])
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for key in ("validation_error", "test_error"):
    if key in evals[0]:
      ax.plot(images, [100 * r[key] for r in evals], "o-", ms=3, label=key.replace("_", " "))
  _log_error_axes(ax, "training images", "error (%)")
  _finish_plot(fig, ax, title, path)
  return True


def _log_error_axes(ax, xlabel: str, ylabel: str):
  """Errors in % on a log axis with plain tick labels (2, 5, 10 rather than 10^0)."""
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_yscale("log")
  for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
    axis(matplotlib.ticker.FormatStrFormatter("%g"))


def plot_catch_rate(records: list[dict], title: str, path: str) -> bool:
  """Greedy (and sampled) catch rate against frames; False when there is nothing to plot."""
  evals = [r for r in records if "catch_rate" in r]
  if not evals:
    return False
  frames = np.array([r["frames"] for r in evals])
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot(frames, [100 * r["catch_rate"] for r in evals], "o-", ms=3, label="greedy policy")
  if "catch_rate_sampled" in evals[0]:
    ax.plot(frames, [100 * r["catch_rate_sampled"] for r in evals], "o-", ms=3,
            label="sampled policy")
  ax.axhline(85, color="gray", ls="--", lw=1, label="paper (~85%)")
  ax.set_xlabel("frames")
  ax.set_ylabel("balls caught (%)")
  _finish_plot(fig, ax, title, path)
  return True


def _finish_plot(fig, ax, title: str, path: str):
  ax.grid(True, which="both", alpha=0.3)
  ax.set_title(title, fontsize=9)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


RETINA_COLOURS = ((255, 40, 40), (255, 150, 0), (255, 230, 0))  # Finest to coarsest.


def catch_frames(screens: np.ndarray, locations: np.ndarray, rewards: np.ndarray, glimpse_size: int,
                 num_scales: int, zoom: int = 12) -> list[Image.Image]:
  """One game, `[T, 24, 24]` screens and `[T, 2]` glimpse locations -> RGB frames with the retina."""
  frames = []
  for t in range(screens.shape[0]):
    pixels = (np.kron(screens[t], np.ones((zoom, zoom))) * 255).astype(np.uint8)
    image = Image.fromarray(pixels).convert("RGB")
    draw = ImageDraw.Draw(image)
    cx, cy = (glimpse_centres_in_pixels(locations[t:t + 1], catch.SIZE, catch.SIZE)[0] + 0.5).tolist()
    for k in range(num_scales):
      half = glimpse_size * 2**k // 2
      box = [(cx - half) * zoom, (cy - half) * zoom, (cx + half) * zoom - 1, (cy + half) * zoom - 1]
      draw.rectangle(box, outline=RETINA_COLOURS[k % len(RETINA_COLOURS)], width=2)
    if t == screens.shape[0] - 1:  # The last frame: did the ball land on the paddle?
      draw.rectangle([0, 0, image.width - 1, image.height - 1],
                     outline=(0, 200, 0) if rewards[t] > 0 else (220, 0, 0), width=6)
    frames.append(image)
  return frames


def visualize_catch(workdir: str, config: ConfigDict, out_dir: str,
                    num_games: int = 4) -> list[str]:
  """`catch.gif` of `num_games` greedy games and the catch-rate curve."""
  agent = catch_agent.make_agent(config)
  _, params = ram_workdir.load_catch_run(workdir)
  reset_key, play_key = jax.random.split(jax.random.PRNGKey(config.eval_seed + 1))
  games = catch.batch_reset(jax.random.split(reset_key, num_games))
  _, rollout = catch_agent.play_games(agent, params, games, play_key, greedy=True)
  screens, rewards = np.asarray(rollout.screens), np.asarray(rollout.rewards)
  locations = np.asarray(rollout.outputs["location"])
  frames = []
  for g in range(num_games):
    frames += catch_frames(screens[:, g], locations[:, g], rewards[:, g], config.glimpse_size,
                           config.num_scales)
  written = [os.path.join(out_dir, "catch.gif")]
  frames[0].save(written[0], save_all=True, append_images=frames[1:], duration=150, loop=0)
  curve = os.path.join(out_dir, "catch_rate.png")
  title = f"RAM on Catch, {config.glimpse_size}x{config.glimpse_size} retina, {config.num_scales} scales"
  if plot_catch_rate(read_metrics(workdir), title, curve):
    written.append(curve)
  return written


def visualize(workdir: str, out_dir: str | None = None, num_examples: int = 8,
              data_dir: str | None = None) -> list[str]:
  """Writes the figures for one run; returns their paths."""
  out_dir = out_dir or os.path.join(workdir, "figures")
  os.makedirs(out_dir, exist_ok=True)
  config = read_workdir_config(workdir)
  if ram_workdir.is_catch_run(config):
    return visualize_catch(workdir, config, out_dir)
  if "model" not in config:
    raise UsageError(f"{workdir} is not a launch.mnist or launch.catch workdir.")
  curve = os.path.join(out_dir, "learning_curve.png")
  if config.model != "ram":  # A baseline takes no glimpses: only its learning curve.
    title = f"{config.model} baseline, {config.task} {config.canvas}x{config.canvas}"
    plotted = plot_learning_curve(read_metrics(workdir), config.batch_size, title, curve)
    return [curve] if plotted else []
  config, params = ram_workdir.load_mnist_run(workdir)
  splits = ram_workdir.load_mnist_digits(config, data_dir)
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
  if plot_learning_curve(read_metrics(workdir), config.batch_size, title, curve):
    written.append(curve)
  stats = analysis.policy_stats(model, params, config, task, test_images, test_labels)
  written.append(os.path.join(out_dir, "policy_stats.json"))
  write_json_atomic(written[-1], stats)
  print("per glimpse, median distance (px) to the digit's centre:", stats["median_distance_px"])
  print("per glimpse, fraction centred on the digit:", stats["fraction_on_digit"])
  centre = stats["image_centre"]
  print(f"glimpses fixed on the image's centre: {centre['median_distance_px']} px, "
        f"{centre['fraction_on_digit']} on the digit")
  blob = stats["brightest_window"]
  print("per glimpse, fraction on the digit with the brightest-window policy:",
        blob["fraction_on_digit"])
  print(f"error on {stats['num_test_images']} test images: {stats['error']:.2%}; with glimpses "
        f"2..T on the digit's centre: {stats['error_glimpses_on_digit']:.2%}; on the image's "
        f"centre: {centre['error']:.2%}; placed by the brightest-window policy: "
        f"{blob['error']:.2%}")
  return written


def plot_table_curves(curves: list[tuple[str, np.ndarray, np.ndarray, float]], title: str,
                      path: str):
  """One paper table's rows on one plot: test error (%) against training images, each row's
  paper number as a dashed line in the same colour. `curves`: (label, images, error %, paper %); a
  row with one point (its evaluations were not kept) gets a larger marker."""
  fig, ax = plt.subplots(figsize=(6.5, 4))
  for i, (label, images, errors, paper) in enumerate(curves):
    colour = f"C{i % 10}"
    ax.plot(images, errors, "o-", ms=2 if len(images) > 1 else 6, color=colour, label=label)
    ax.axhline(paper, color=colour, ls="--", lw=1)
  _log_error_axes(ax, "training images (dashed: the paper's test error)", "test error (%)")
  _finish_plot(fig, ax, title, path)
