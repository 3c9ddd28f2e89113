"""Looking inside a trained S3TA agent (Mott et al. 2019, section 4.1: Figs. 2, 5, 6, 12).

Pure functions a notebook can call; `python -m launch.visualize_s3ta` only wires flags to them.

  record(agent, params, env_name, steps)   plays greedily; returns frames, maps, what/where, ...
  upsample(maps, frame_hw)                 map cells -> frame pixels (the vision core's stride)
  attention_overlay(frame, map)            bright = attended, as in Fig. 2
  what_where_image(contribution)           eqs. 10-11: red where content dominates, blue space
  marginals(maps)                          the per-head row and column sums of Fig. 12
  perturbation_masks / saliency            Greydanus et al. 2017, the method of Fig. 6
  peak_cell / peak_distance                where a map's mass is most concentrated, in cells
  video_frames / write_video               the attention video (MP4 with imageio-ffmpeg, else GIF)

Cell (i, j) of an h x w map covers frame rows [i*s, (i+1)*s) with s = ceil(H / h) (columns
alike): the vision core's total stride under 'SAME' padding, the same mapping that
`impala.diagnostics.object_attention_mass` uses.
"""
from __future__ import annotations

import math
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw

from s3ta_jax import attention as attention_lib
from s3ta_jax import spatial_basis as basis_lib


def cell_of_pixel(num_pixels: int, num_cells: int) -> np.ndarray:
  """[num_pixels] index of the map cell each pixel row (or column) falls in."""
  stride = -(-num_pixels // num_cells)
  return np.minimum(np.arange(num_pixels) // stride, num_cells - 1)


def upsample(maps: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
  """[..., h, w] -> [..., H, W]: each pixel takes the value of the cell it falls in."""
  rows = cell_of_pixel(frame_hw[0], maps.shape[-2])
  cols = cell_of_pixel(frame_hw[1], maps.shape[-1])
  return maps[..., rows[:, None], cols[None, :]]


def attention_overlay(frame: np.ndarray, attention: np.ndarray, floor: float = 0.25,
                      glow: float = 96.0) -> np.ndarray:
  """uint8 [H, W, 3]: the frame darkened where the map is low (Fig. 2's "bright = attended").

  With r = A / max(A) per pixel, pixel = frame * (floor + (1 - floor) r) + glow * r: the most
  attended cell keeps the frame and gains `glow` grey levels (so attention on a black background
  shows), unattended cells keep `floor` of the frame.
  """
  a = upsample(np.asarray(attention, np.float64), frame.shape[:2])
  r = (a / max(float(a.max()), 1e-12))[..., None]
  out = frame.astype(np.float64) * (floor + (1.0 - floor) * r) + glow * r
  return np.clip(out, 0, 255).astype(np.uint8)


def what_where(queries: np.ndarray, keys: np.ndarray, weights: np.ndarray,
               num_basis_channels: int) -> np.ndarray:
  """C = clip(what - where, +-log 10) * A per head (eqs. 8-11): [B, N, h, w]."""
  what, where = attention_lib.what_where(jnp.asarray(queries), jnp.asarray(keys),
                                         num_basis_channels)
  return np.asarray(attention_lib.what_where_contribution(what, where, jnp.asarray(weights)))


def what_where_image(contribution: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
  """uint8 [H, W, 3] of one head's C (eq. 11): red where content dominates, blue where space does.

  Colour intensity is |C| / max |C| over the map, so the strongest contribution is full red or
  blue and a map with no attention anywhere is black.
  """
  c = upsample(np.asarray(contribution, np.float64), frame_hw)
  c = c / max(float(np.abs(c).max()), 1e-12)
  image = np.zeros(frame_hw + (3,))
  image[..., 0] = np.maximum(c, 0.0)
  image[..., 2] = np.maximum(-c, 0.0)
  return (255 * image).astype(np.uint8)


def marginals(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Fig. 12: the sums of each map over columns (-> [..., h], one per row) and over rows ([..., w])."""
  maps = np.asarray(maps)
  return maps.sum(-1), maps.sum(-2)


def peak_cell(maps: np.ndarray) -> np.ndarray:
  """[..., h, w] -> [..., 2] (row, column) of each map's largest weight."""
  h, w = maps.shape[-2:]
  flat = np.asarray(maps).reshape(maps.shape[:-2] + (h * w,)).argmax(-1)
  return np.stack([flat // w, flat % w], -1)


def object_cells(pixel_mask: np.ndarray, map_hw: tuple[int, int]) -> np.ndarray:
  """[..., H, W] bool pixels -> [..., h, w] bool: the cells that hold any of them."""
  rows = cell_of_pixel(pixel_mask.shape[-2], map_hw[0])
  cols = cell_of_pixel(pixel_mask.shape[-1], map_hw[1])
  cells = np.zeros(pixel_mask.shape[:-2] + tuple(map_hw), bool)
  *lead, r, c = np.nonzero(pixel_mask)
  cells[tuple(lead) + (rows[r], cols[c])] = True
  return cells


def peak_distance(maps: np.ndarray, pixel_mask: np.ndarray) -> np.ndarray:
  """Distance in cells from each map's peak to the nearest cell of an object.

  maps [B, N, h, w]; pixel_mask [B, H, W] (the object's pixels; each frame must hold some).
  -> [B, N]. 0 means the peak is on the object.
  """
  h, w = maps.shape[-2:]
  cells = object_cells(pixel_mask, (h, w))
  if not cells.reshape(len(cells), -1).any(-1).all():
    raise ValueError("peak_distance needs the object in every frame; drop frames without it.")
  peaks = peak_cell(maps)  # [B, N, 2]
  grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1)  # [h, w, 2]
  d = np.linalg.norm(peaks[:, :, None, None, :] - grid[None, None], axis=-1)  # [B, N, h, w]
  return np.where(cells[:, None], d, np.inf).min((-2, -1))


def gaussian_blur(frame: jax.Array, sigma: float) -> jax.Array:
  """[H, W, C] float -> the same frame blurred by a Gaussian of std `sigma` pixels (edges: reflect)."""
  radius = max(1, int(math.ceil(3 * sigma)))
  x = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
  k = jnp.exp(-0.5 * (x / sigma) ** 2)
  k = k / k.sum()
  padded = jnp.pad(frame, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
  h, w = frame.shape[:2]
  rows = sum(k[i] * padded[i:i + h] for i in range(2 * radius + 1))
  return sum(k[j] * rows[:, j:j + w] for j in range(2 * radius + 1))


def perturbation_masks(frame_hw: tuple[int, int], stride: int, sigma: float) -> tuple[np.ndarray,
                                                                                     np.ndarray]:
  """Greydanus et al.'s masks M(i, j) = exp(-|p - (i, j)|^2 / (2 sigma^2)) on a grid of centres.

  Returns masks [K, H, W] (max 1 at each centre) and the centres [K, 2] (row, column), every
  `stride` pixels starting at stride // 2.
  """
  height, width = frame_hw
  ci = np.arange(stride // 2, height, stride)
  cj = np.arange(stride // 2, width, stride)
  centres = np.stack(np.meshgrid(ci, cj, indexing="ij"), -1).reshape(-1, 2)
  r = np.arange(height)[None, :, None] - centres[:, 0, None, None]
  c = np.arange(width)[None, None, :] - centres[:, 1, None, None]
  masks = np.exp(-(r ** 2 + c ** 2) / (2.0 * sigma ** 2)).astype(np.float32)
  return masks, centres


def saliency(score: Callable[[jax.Array], tuple[jax.Array, jax.Array]], frame: np.ndarray,
             stride: int = 5, mask_sigma: float = 5.0, blur_sigma: float = 3.0
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Perturbation saliency of one frame (Greydanus et al. 2017; Mott et al. Fig. 6).

  Each perturbed frame is I' = I (1 - M) + blur(I) M for one mask M of `perturbation_masks`; all
  of them go through `score` in one batched call. The policy saliency at a centre is
  1/2 ||pi(I) - pi(I')||^2 on the policy logits and the value saliency 1/2 (V(I) - V(I'))^2.

  Args:
    score: frames [K, H, W, C] float in the frame's own units -> (logits [K, A], value [K]). For
      a recurrent agent, a closure over the state before this frame (broadcast to K).
    frame: [H, W, C].
  Returns:
    (policy [gh, gw], value [gh, gw], centres [gh, gw, 2]).
  """
  frame = jnp.asarray(frame, jnp.float32)
  masks, centres = perturbation_masks(frame.shape[:2], stride, mask_sigma)
  masks = jnp.asarray(masks)[..., None]
  blurred = gaussian_blur(frame, blur_sigma)
  perturbed = frame[None] * (1.0 - masks) + blurred[None] * masks
  logits, value = score(jnp.concatenate([frame[None], perturbed]))
  policy_s = 0.5 * jnp.sum(jnp.square(logits[1:] - logits[:1]), -1)
  value_s = 0.5 * jnp.square(value[1:] - value[:1])
  grid = (len(np.unique(centres[:, 0])), len(np.unique(centres[:, 1])))
  return (np.asarray(policy_s).reshape(grid), np.asarray(value_s).reshape(grid),
          centres.reshape(grid + (2,)))


def num_basis_channels(config) -> int:
  return basis_lib.num_channels(config.basis_even, config.basis_odd)


def score_fn(agent, params, state, prev_action, prev_reward, first):
  """`saliency`'s score for a recurrent agent: one step from `state` (batch 1) for K frames."""

  def score(frames):
    k = frames.shape[0]
    tile = lambda x: jnp.broadcast_to(x, (k,) + x.shape[1:])
    out, _ = agent.step(params, frames, tile(prev_action), tile(prev_reward), tile(first),
                        jax.tree.map(tile, state))
    return out.logits, out.value

  return jax.jit(score)


def record(agent, params, env_name: str, steps: int, seed: int = 0, greedy: bool = True,
           saliency_steps: tuple[int, ...] = (), saliency_stride: int = 5,
           keep_inputs: bool = False) -> dict:
  """Plays `steps` agent steps of one game (a new game after each end) and keeps what each saw.

  Steps the game through `impala.rollout.Rollout`, so the agent is fed as in training. Returns
  numpy arrays over the agent steps (terminal observations are not agent steps):
    frames [S, H, W, 3] uint8, attention [S, N, h, w], contribution [S, N, h, w] (what/where,
    eq. 11; zeros for agents without queries), action [S], value [S], reward [S] (the reward
    that arrived with each frame), first [S], and `saliency`: {step: (policy, value, centres)}
    for the agent steps in `saliency_steps`. With `keep_inputs`, also `inputs`: per step the
    (state, prev_action, prev_reward, reset) it was fed (batch 1), to replay a step.
  """
  from s3ta_jax.impala import envs as envs_lib
  from s3ta_jax.impala.rollout import Rollout
  h, w = agent.frame_shape
  env = envs_lib.make_envs(env_name, 1, 1, h, w, episodic_life=False, seed=seed)
  key = jax.random.PRNGKey(seed)
  keep = {k: [] for k in ("frames", "attention", "contribution", "action", "value", "reward",
                          "first")}
  sal, inputs = {}, []
  try:
    rollout = Rollout(agent, env, greedy=greedy, with_intermediates=True)
    while len(keep["frames"]) < steps:
      key, sub = jax.random.split(key)
      s = rollout.step(params, sub)
      if not s.valid[0]:  # A terminal observation, not an agent step.
        continue
      if len(keep["frames"]) in saliency_steps:
        score = score_fn(agent, params, s.state_before, *s.inputs)
        sal[len(keep["frames"])] = saliency(score, s.obs[0], stride=saliency_stride)
      if keep_inputs:
        inputs.append((s.state_before, *s.inputs))
      weights = np.asarray(s.output.attention)
      queries, keys = (s.intermediates.get(name, (None,))[0] for name in ("queries", "keys"))
      if queries is not None:
        contribution = what_where(queries, keys, weights, num_basis_channels(agent.config))
      else:
        contribution = np.zeros_like(weights)
      for name, value in (("frames", s.obs[0]), ("attention", weights[0]),
                          ("contribution", contribution[0]),
                          ("value", np.asarray(s.output.value)[0]), ("reward", float(s.reward[0])),
                          ("first", bool(s.first[0])), ("action", s.action[0])):
        keep[name].append(value)
  finally:
    env.close()
  result = {k: np.stack(v) for k, v in keep.items()}
  result["saliency"] = sal
  if keep_inputs:
    result["inputs"] = inputs
  return result


def ball_following(agent, params, steps: int = 300, seed: int = 0) -> dict:
  """Does a Catch agent's attention follow the ball? (A counterfactual check of Fig. 2's claim.)

  Plays `steps` greedy steps. The head with the highest mean peak weight is "the most peaked
  head". Reported, over steps where the ball is above the bottom row:
    peak_to_ball        mean distance (cells) from that head's peak to the nearest ball cell;
    uniform_to_ball     the same for a uniform map (its mean distance over all cells);
    fixed_to_ball       the same for the best single fixed cell (an oracle constant map);
    moved_follow_rate   after the ball is redrawn in another column of the same frame (same
                        recurrent state), the fraction of edits whose peak lands within 1 cell of
                        the moved ball;
    moved_shift_cells   the mean column shift of the peak per column cell the ball moved (1 = the
                        peak moves exactly with the ball, 0 = it stays);
    *_first             the same two over the first frame of each game only, where no memory of
                        the ball's real position (ConvLSTM or policy LSTM) can hold the map back.
  """
  from s3ta_jax.impala import catch_env
  h, w = agent.frame_shape
  rec = record(agent, params, "catch", steps, seed=seed, keep_inputs=True)
  frames, maps, inputs = rec["frames"], rec["attention"], rec["inputs"]  # [S, H, W, 3], [S, N, ..]
  step = jax.jit(agent.step)
  mh, mw = maps.shape[-2:]
  head = int(np.argmax(maps.reshape(len(maps), maps.shape[1], -1).max(-1).mean(0)))
  ball = (frames[..., 0] > 0)  # catch_env draws the ball red + blue, the paddle green + blue.
  ball_rows = cell_of_pixel(h, catch_env.ROWS)  # pixel row -> Catch grid row
  pix_cols = cell_of_pixel(w, catch_env.COLS)
  grid_row = np.array([ball_rows[np.nonzero(b.any(1))[0][0]] for b in ball])
  grid_col = np.array([pix_cols[np.nonzero(b.any(0))[0][0]] for b in ball])
  use = np.nonzero(grid_row < catch_env.ROWS - 1)[0]
  cells = object_cells(ball[use], (mh, mw))  # [U, mh, mw]
  grid = np.stack(np.meshgrid(np.arange(mh), np.arange(mw), indexing="ij"), -1).reshape(-1, 2)
  # Distance from every cell to the nearest ball cell, per step: [U, mh*mw].
  dist = np.stack([np.min(np.linalg.norm(grid[:, None] - np.argwhere(c)[None], axis=-1), 1)
                   for c in cells])
  peak = peak_distance(maps[use, head:head + 1], ball[use])[:, 0]

  # Counterfactual: redraw the ball two Catch columns away (wrapping), same state and inputs.
  follow, shift, is_first = [], [], []
  for s in use:
    new_col = (grid_col[s] + 2) % catch_env.COLS
    edited = frames[s].copy()
    edited[ball[s], 0] = 0
    edited[ball[s], 2] = 0
    rows = ball_rows == grid_row[s]
    cols = pix_cols == new_col
    edited[np.ix_(rows, cols, [0, 2])] = 255
    state, prev_action, prev_reward, reset = inputs[s]
    is_first.append(bool(reset[0]))
    out, _ = step(params, edited[None], prev_action, prev_reward, reset, state)
    moved = np.asarray(out.attention)[0, head]
    new_ball = np.zeros((h, w), bool)
    new_ball[np.ix_(rows, cols)] = True
    follow.append(peak_distance(moved[None, None], new_ball[None])[0, 0] <= 1.0)
    old_peak, new_peak = peak_cell(maps[s, head]), peak_cell(moved)
    ball_shift = (np.nonzero(object_cells(new_ball, (mh, mw)).any(0))[0].mean()
                  - np.nonzero(cells[list(use).index(s)].any(0))[0].mean())
    shift.append((new_peak[1] - old_peak[1]) / ball_shift)
  return dict(head=head, steps=int(len(use)), peak_to_ball=float(peak.mean()),
              peak_on_ball_rate=float(np.mean(peak == 0)),
              uniform_to_ball=float(dist.mean()), fixed_to_ball=float(dist.mean(0).min()),
              moved_follow_rate=float(np.mean(follow)), moved_shift_cells=float(np.mean(shift)),
              games=int(np.sum(is_first)),
              moved_follow_rate_first=float(np.mean(np.array(follow)[is_first])),
              moved_shift_cells_first=float(np.mean(np.array(shift)[is_first])))


def video_frames(rec: dict, scale: int) -> list[np.ndarray]:
  """One image per agent step: [attention panels | what/where panels] with a caption."""
  images = []
  heads = rec["attention"].shape[1]
  hw = rec["frames"].shape[1:3]
  for t in range(len(rec["frames"])):
    frame = rec["frames"][t]
    top = [attention_overlay(frame, rec["attention"][t, n]) for n in range(heads)]
    bottom = [what_where_image(rec["contribution"][t, n], hw) for n in range(heads)]
    grid = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
    grid = np.kron(grid, np.ones((scale, scale, 1), np.uint8))
    caption = np.zeros((16, grid.shape[1], 3), np.uint8)
    image = Image.fromarray(np.concatenate([caption, grid], 0))
    ImageDraw.Draw(image).text(
        (4, 2), f"step {t}  action {rec['action'][t]}  value {rec['value'][t]:+.3f}  "
        "top: attention per head; bottom: what (red) / where (blue)", fill=(255, 255, 255))
    images.append(np.asarray(image))
  return images


def write_video(images: list[np.ndarray], out_dir: str, fps: int) -> str:
  """MP4 through imageio-ffmpeg when installed, else an animated GIF (pillow). Returns the path."""
  try:
    import imageio.v2 as imageio  # pylint: disable=g-import-not-at-top
    import imageio_ffmpeg  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    imageio = None
  if imageio is not None:
    path = os.path.join(out_dir, "attention.mp4")
    # H.264 wants even sizes.
    images = [im[:im.shape[0] // 2 * 2, :im.shape[1] // 2 * 2] for im in images]
    imageio.mimwrite(path, images, fps=fps, macro_block_size=1)
    return path
  path = os.path.join(out_dir, "attention.gif")
  frames = [Image.fromarray(im) for im in images]
  frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
  return path


def classifier_steps_figure(images: np.ndarray, attention: np.ndarray, step_logits: np.ndarray,
                            labels: np.ndarray, path: str, class_names=None, top: int = 10):
  """Fig. 7's layout for each image: the image, then each step's attention over it (the mean of
  the heads' maps, bright = attended), and below each step its class probabilities. For clips
  (Fig. 9), step t is drawn over frame t and the first column is the first frame.

  images [B, H, W, C] or clips [B, T, H, W, C] uint8, attention [T, B, N, h, w], step_logits
  [T, B, K], labels [B].
  """
  import matplotlib  # pylint: disable=g-import-not-at-top  # Only figures need matplotlib.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  steps, batch = step_logits.shape[:2]
  clips = images if images.ndim == 5 else np.repeat(images[:, None], steps, axis=1)
  names = class_names or [str(k) for k in range(step_logits.shape[-1])]
  fig, axes = plt.subplots(2 * batch, steps + 1, figsize=(1.8 * (steps + 1), 3.4 * batch),
                           squeeze=False)
  for b in range(batch):
    frames = clips[b] if clips.shape[-1] == 3 else np.repeat(clips[b], 3, axis=-1)
    axes[2 * b, 0].imshow(frames[0])
    axes[2 * b, 0].set_title(f"label {names[int(labels[b])]}", fontsize=8)
    axes[2 * b + 1, 0].axis("off")
    for t in range(steps):
      ax = axes[2 * b, t + 1]
      if attention.shape[2]:
        ax.imshow(attention_overlay(frames[t], attention[t, b].mean(0)))
      else:
        ax.imshow(frames[t])
      probs = np.exp(step_logits[t, b] - step_logits[t, b].max())
      probs /= probs.sum()
      order = np.argsort(-probs)[:top]
      ax.set_title(f"step {t + 1}: {names[order[0]]} ({probs[order[0]]:.2f})", fontsize=8)
      bars = axes[2 * b + 1, t + 1]
      bars.bar(range(len(order)), probs[order],
               color=["tab:green" if k == labels[b] else "tab:grey" for k in order])
      bars.set_xticks(range(len(order)), [names[k] for k in order], fontsize=6,
                      rotation=90 if len(names) > 10 else 0)
      bars.set_ylim(0, 1)
  for ax in axes[::2].flat:
    ax.set_xticks([]), ax.set_yticks([])
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)
