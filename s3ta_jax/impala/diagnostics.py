"""Signs that an agent's torso has collapsed, read from its internals while it plays.

A collapsed agent's losses look healthy (entropy near log|A|, a small value loss), so they do not
show the failure seen in the CPU Breakout runs of the small S3TA agent (README, "Atari"):

  value_std        std over envs of the value at the same step, averaged over steps: ~0 when the
                   value no longer depends on the screen.
  gate_saturation  fraction of the policy LSTM's gate pre-activations with |x| > 4 (where the
                   sigmoid's slope is < 0.018): saturated gates pass no gradient, and the LSTM
                   outputs a constant.
  core_input_spread  std over envs of the policy LSTM's input at the same step, over its rms
                   (averaged over units and steps): ~0 when that input is one large vector shared
                   by every screen, which the gates then saturate on.
  core_input_dead  fraction of the LSTM input's units that are <= 0 on every step of every env:
                   dead ReLUs of the answer processor (S3TA) pass neither signal nor gradient.
                   (Meaningful only when that input is rectified, as it is by default.)
  vision_gate_saturation  per gate (input, forget, cell, output), the fraction of the vision
                   core ConvLSTM's gate pre-activations (forget bias included) with |x| > 4.
  vision_cell_abs, vision_cell_saturated  mean |c| of the ConvLSTM cell, and the fraction of cell
                   units with |c| > 3 (where tanh's slope is < 0.01): a cell that integrates the
                   screen without forgetting grows, and h = o tanh(c) stops following the input.
  vision_spread    std over envs of O_vis at the same cell and step, over its rms: ~0 when the
                   vision core's output no longer depends on the screen.
                   (The three are NaN for agents without a ConvLSTM.)
  attention_max    the largest attention weight of each map, averaged over heads, envs and steps:
                   1/(h*w) for uniform attention (the answer is a spatial mean and carries no
                   position), 1 for one-hot attention. NaN for agents without attention.
  what_range, where_range  per head, the max minus the min over the map's cells of the content
                   and the spatial logits (eqs. 8-9), averaged over envs and steps: a part
                   spanning well over ~10 nats alone makes the softmax near one-hot. (Agents with
                   queries only: S3TA and fixed_query.)
  peak_cells       per head, how many distinct cells held the map's largest weight over all envs
                   and steps: 1 when the head always reads the same place, whatever the screen.

  ball_attention, paddle_attention  (Catch only) per head, the attention mass on the map cells
                   that hold the ball / the paddle; `*_cells` is the mass uniform attention puts
                   there. A head that ignores an object has far less than uniform on it.

`python -m launch.evaluate_atari --workdir=DIR --diagnose` prints them for a trained agent
(`diagnose_run`).
"""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from s3ta_jax import agent_config
from s3ta_jax import attention as attention_lib
from s3ta_jax import interpret
from s3ta_jax.impala import envs as envs_lib
from s3ta_jax.impala import levels as levels_lib
from s3ta_jax.impala import workdir as atari_workdir
from s3ta_jax.impala.rollout import Rollout

SATURATED = 4.0
CELL_SATURATED = 3.0


def _spread(x: jax.Array) -> jax.Array:
  """Mean std over the batch (axis 0) of x, over x's rms."""
  return jnp.mean(jnp.std(x, 0)) / jnp.sqrt(jnp.mean(jnp.square(x)) + 1e-12)


def lstm_gate_preactivations(cell_params, inputs: jax.Array, h: jax.Array) -> jax.Array:
  """Pre-activations [4, B, H] of the input, forget, cell and output gates of a Flax
  `OptimizedLSTMCell` (parameters ii/if/ig/io: input kernels, hi/hf/hg/ho: hidden kernel + bias)."""
  return jnp.stack([inputs @ cell_params[f"i{g}"]["kernel"] + h @ cell_params[f"h{g}"]["kernel"]
                    + cell_params[f"h{g}"]["bias"] for g in "ifgo"])


def object_attention_mass(attention: np.ndarray, pixel_mask: np.ndarray) -> np.ndarray:
  """Per head, the attention on the map cells that contain any pixel of `pixel_mask`.

  attention [B, N, h, w]; pixel_mask [B, H, W] bool. Pixel row p falls in cell p // s with
  s = ceil(H / h), the vision core's total stride under 'SAME' padding (columns alike). -> [B, N].
  """
  b, _, h, w = attention.shape
  height, width = pixel_mask.shape[1:]
  rows = np.minimum(np.arange(height) // -(-height // h), h - 1)
  cols = np.minimum(np.arange(width) // -(-width // w), w - 1)
  cells = np.zeros((b, h, w), bool)
  env, r, c = np.nonzero(pixel_mask)
  cells[env, rows[r], cols[c]] = True
  return np.einsum("bnhw,bhw->bn", attention, cells)


def _vision_stats(intermediates, new_state, forget_bias: float, num_envs: int):
  """Per env: the ConvLSTM's gate saturation [B, 4], mean |c| [B] and saturated cells [B],
  and O_vis's spread (all NaN when the agent has no ConvLSTM)."""
  gates = intermediates.get("conv_lstm", {}).get("gates")
  if gates is None:
    nan = jnp.full((num_envs,), jnp.nan)
    return jnp.full((num_envs, 4), jnp.nan), nan, nan, jnp.nan
  i, f, g, o = jnp.split(gates[0], 4, axis=-1)
  pre = jnp.stack([i, f + forget_bias, g, o], 1)  # [B, 4, h, w, C]
  saturated = jnp.mean(jnp.abs(pre) > SATURATED, axis=(2, 3, 4))
  cell = jnp.abs(new_state.vision_c)
  return (saturated, jnp.mean(cell, (1, 2, 3)), jnp.mean(cell > CELL_SATURATED, (1, 2, 3)),
          _spread(intermediates["vision_core"][0]))


def maps_of(attention) -> bool:
  """Whether an agent's [B, N, h, w] output holds attention maps: the baselines have no heads,
  the tiny agent's maps are 1x1 dummies."""
  return bool(attention.shape[1]) and attention.shape[2] * attention.shape[3] > 1


def _core_input(intermediates):
  """The policy LSTM's input at this step, or None for agents without one."""
  for name in ("answer_processor", "core_input"):
    if name in intermediates:
      return intermediates[name][0]
  return None


def measure(agent, params, env_name: str, num_envs: int = 8, steps: int = 200,
            seed: int = 0) -> dict:
  """Plays `steps` agent steps in `num_envs` games with sampled actions (through the shared
  `rollout.Rollout`); returns the means of value_std, gate_saturation, ... (module docstring)
  over non-terminal steps."""
  h, w = agent.frame_shape
  cell = params["params"].get("core")
  forget_bias = agent.config.get("conv_lstm_forget_bias", 0.0)  # The tiny agent has no ConvLSTM.

  @jax.jit
  def step_stats(params, out, intermediates, state, new_state, first):
    core_in = _core_input(intermediates)
    if cell is None or core_in is None:
      saturated = jnp.full((num_envs,), jnp.nan)
      spread, unit_max = jnp.nan, jnp.zeros((0,))
    else:
      unit_max = jnp.max(core_in, 0)
      spread = _spread(core_in)
      pre = lstm_gate_preactivations(params["params"]["core"], core_in,
                                     jnp.where(first[:, None], 0.0, state.core_h))
      saturated = jnp.mean(jnp.abs(pre) > SATURATED, axis=(0, 2))
    b, heads, mh, mw = out.attention.shape
    attention = out.attention.reshape(b, heads, mh * mw)
    attention_max = (jnp.mean(jnp.max(attention, -1), -1) if maps_of(out.attention)
                     else jnp.full((num_envs,), jnp.nan))
    vision = _vision_stats(intermediates, new_state, forget_bias, num_envs)
    ranges = ()
    if "queries" in intermediates:  # S3TA and fixed_query.
      parts = attention_lib.what_where(intermediates["queries"][0], intermediates["keys"][0],
                                       interpret.num_basis_channels(agent.config))
      ranges = tuple(jnp.max(x, (2, 3)) - jnp.min(x, (2, 3)) for x in parts)  # [B, N] each.
    peaks = jnp.argmax(attention, -1)
    return saturated, attention_max, spread, unit_max, vision, ranges, peaks

  key = jax.random.PRNGKey(seed)
  value_std, saturation, attention_max, input_spread = [], [], [], []
  vision = {name: [] for name in ("vision_gate_saturation", "vision_cell_abs",
                                  "vision_cell_saturated", "vision_spread")}
  objects = {name: [] for name in ("ball_attention", "ball_cells", "paddle_attention",
                                   "paddle_cells")}
  is_catch = envs_lib.is_catch(env_name)
  unit_max = None
  ranges, peak_cells = {"what_range": [], "where_range": []}, []
  env = envs_lib.make_envs(env_name, num_envs, num_envs, h, w, episodic_life=False,
                           seed=seed + 20_000)
  try:
    rollout = Rollout(agent, env, with_intermediates=True)
    for _ in range(steps):
      key, sub = jax.random.split(key)
      s = rollout.step(params, sub)
      sat, att, spread, step_max, step_vision, step_ranges, peaks = step_stats(
          params, s.output, s.intermediates, s.state_before, s.state_after, s.first)
      live = s.valid  # A terminal observation is not an agent step.
      if live.sum() > 1:
        value_std.append(np.std(np.asarray(s.output.value)[live]))
        saturation.append(np.mean(np.asarray(sat)[live]))
        attention_max.append(np.mean(np.asarray(att)[live]))
        input_spread.append(float(spread))
        for name, v in zip(vision, step_vision):
          v = np.asarray(v)
          vision[name].append(v if v.ndim == 0 else v[live].mean(0))
        for name, v in zip(ranges, step_ranges):
          ranges[name].append(np.asarray(v)[live].mean(0))
        if maps_of(s.output.attention):
          peak_cells.append(np.asarray(peaks)[live])
        step_max = np.asarray(step_max)
        unit_max = step_max if unit_max is None else np.maximum(unit_max, step_max)
        maps = np.asarray(s.output.attention)[live]
        if is_catch and maps.shape[1] and maps.shape[2] * maps.shape[3] > 1:
          uniform = np.full(maps.shape[:1] + (1,) + maps.shape[2:], 1.0 / np.prod(maps.shape[2:]))
          # catch_env draws the ball in red + blue, the paddle in green + blue.
          for name, channel in (("ball", 0), ("paddle", 1)):
            mask = s.obs[live][..., channel] > 0
            objects[f"{name}_attention"].append(object_attention_mass(maps, mask).mean(0))
            objects[f"{name}_cells"].append(object_attention_mass(uniform, mask).mean())
  finally:
    env.close()
  return dict(value_std=float(np.mean(value_std)), gate_saturation=float(np.mean(saturation)),
              attention_max=float(np.mean(attention_max)),
              core_input_spread=float(np.mean(input_spread)),
              core_input_dead=float(np.mean(unit_max <= 0)) if unit_max is not None and
              unit_max.size else float("nan"),
              vision_gate_saturation=np.mean(vision.pop("vision_gate_saturation"), 0).tolist(),
              **{k: float(np.mean(v)) for k, v in vision.items()},
              **{k: np.mean(v, 0).tolist() for k, v in objects.items() if v},
              **{k: np.mean(v, 0).tolist() for k, v in ranges.items() if v},
              **({"peak_cells": [len(np.unique(p)) for p in np.concatenate(peak_cells).T]}
                 if peak_cells else {}))


def diagnose_run(workdir: str, seed: int = 0) -> dict:
  """`measure` on a launch.atari workdir's latest checkpoint: prints the measures, appends them
  to `WORKDIR/eval.jsonl` and returns them."""
  config, agent, params, frames = atari_workdir.load(workdir)
  levels_lib.require_single_level(config, "--diagnose")
  m = measure(agent, params, config.env_name, seed=seed)
  uniform = ""
  if agent.config.kind in agent_config.ATTENTION_KINDS:
    h, w = agent_config.feature_map_shape(agent.config)
    uniform = f" (uniform: {1 / (h * w):.4f}, one-hot: 1)"
  print(f"{config.env_name} after {frames:,} frames: value std over envs {m['value_std']:.5f}; "
        f"policy-LSTM gates saturated {100 * m['gate_saturation']:.1f}%; attention max weight "
        f"{m['attention_max']:.4f}{uniform}; policy-LSTM input spread over envs "
        f"{m['core_input_spread']:.4f} of its rms, {100 * m['core_input_dead']:.0f}% of its units "
        "dead", flush=True)
  if not np.isnan(m["vision_cell_abs"]):
    gates = ", ".join(f"{g} {100 * v:.1f}%" for g, v in zip("ifgo", m["vision_gate_saturation"]))
    print(f"vision ConvLSTM: gates saturated {gates}; mean |c| {m['vision_cell_abs']:.3f}, "
          f"{100 * m['vision_cell_saturated']:.1f}% of cells |c| > {CELL_SATURATED:g};"
          f" O_vis spread over envs {m['vision_spread']:.4f} of its rms", flush=True)
  if "peak_cells" in m:
    per_head = lambda key: ", ".join(f"{v:.1f}" for v in m[key])
    ranges = (f"; logit range over cells per head: content {per_head('what_range')}, spatial "
              f"{per_head('where_range')}" if "what_range" in m else "")
    print(f"attention peak on {', '.join(map(str, m['peak_cells']))} distinct cells per head"
          f"{ranges}", flush=True)
  for name in ("ball", "paddle"):
    if f"{name}_attention" in m:
      heads = ", ".join(f"{v:.3f}" for v in m[f"{name}_attention"])
      print(f"attention on the {name} per head: {heads} (uniform: {m[f'{name}_cells']:.3f})",
            flush=True)
  with open(os.path.join(workdir, "eval.jsonl"), "a") as f:
    f.write(json.dumps(dict(frames=frames, mode="diagnose", time=time.time(), **m)) + "\n")
  return m
