"""Evaluates a trained Atari agent from its workdir: returns and human-normalised score.

  python -m launch.evaluate_atari --workdir=workdirs/s3ta_breakout --episodes=10 --mode=both

Reads `workdir/config.json` and the latest checkpoint, plays `--episodes` whole games (no life
loss termination, up to 27k agent steps = 108k frames) with greedy (argmax) and/or sampled
actions, prints mean/median/min/max return and the human-normalised score (random and human
references from `s3ta_jax.impala.human_scores`), and appends them to `workdir/eval.jsonl`.

  python -m launch.evaluate_atari --workdir=workdirs/s3ta_breakout --diagnose

instead plays 200 steps in 8 games and prints the signs of a collapsed torso (value spread over
envs, saturated policy-LSTM and ConvLSTM gates, the ConvLSTM cell's size, attention sharpness;
`s3ta_jax.impala.diagnostics`).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
from absl import app, flags, logging

from common.cli import run_main
from common.errors import UsageError
from s3ta_jax.impala import workdir as atari_workdir

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir (holds config.json, checkpoints/).")
_EPISODES = flags.DEFINE_integer("episodes", 10, "Games to play per mode.")
_MODE = flags.DEFINE_enum("mode", "both", ["greedy", "stochastic", "both"], "Action selection.")
_MAX_STEPS = flags.DEFINE_integer("max_steps", 27000, "Agent steps per game at most (x4 frames).")
_SEED = flags.DEFINE_integer("seed", 0, "Environment and sampling seed.")
_DIAGNOSE = flags.DEFINE_bool("diagnose", False, "Print collapse diagnostics instead of scores.")


def diagnose(config, agent, params, frames):
  from s3ta_jax.impala import diagnostics
  m = diagnostics.measure(agent, params, config.env_name, seed=_SEED.value)
  from s3ta_jax import agent_config
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
          f"{100 * m['vision_cell_saturated']:.1f}% of cells |c| > {diagnostics.CELL_SATURATED:g};"
          f" O_vis spread over envs {m['vision_spread']:.4f} of its rms", flush=True)
  for name in ("ball", "paddle"):
    if f"{name}_attention" in m:
      heads = ", ".join(f"{v:.3f}" for v in m[f"{name}_attention"])
      print(f"attention on the {name} per head: {heads} (uniform: {m[f'{name}_cells']:.3f})",
            flush=True)
  with open(os.path.join(_WORKDIR.value, "eval.jsonl"), "a") as f:
    f.write(json.dumps(dict(frames=frames, mode="diagnose", time=time.time(), **m)) + "\n")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax logs restores at INFO.
  if not _WORKDIR.value:
    raise UsageError("pass --workdir=DIR of a launch.atari run")
  from s3ta_jax.impala import evaluation, human_scores
  config, agent, params, frames = atari_workdir.load(_WORKDIR.value)
  if _DIAGNOSE.value:
    diagnose(config, agent, params, frames)
    return
  modes = ["greedy", "stochastic"] if _MODE.value == "both" else [_MODE.value]
  for mode in modes:
    start = time.time()
    returns = evaluation.evaluate(agent, params, config.env_name, _EPISODES.value,
                                  greedy=mode == "greedy", seed=_SEED.value,
                                  max_steps=_MAX_STEPS.value)
    mean = float(np.mean(returns))
    hns = human_scores.human_normalized(config.env_name, mean)
    hns_text = f"{100 * hns:.1f}%" if hns is not None else "n/a (not an Atari-57 game)"
    print(f"{config.env_name} {mode} after {frames:,} frames: {len(returns)} games, return mean "
          f"{mean:.2f} median {np.median(returns):.2f} min {np.min(returns):.2f} max "
          f"{np.max(returns):.2f}; human-normalised {hns_text} ({time.time() - start:.0f}s)",
          flush=True)
    record = dict(frames=frames, mode=mode, episodes=len(returns), return_mean=mean,
                  return_median=float(np.median(returns)), returns=[float(r) for r in returns],
                  human_normalized=hns, time=time.time())
    with open(os.path.join(_WORKDIR.value, "eval.jsonl"), "a") as f:
      f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
  app.run(lambda argv: run_main(main, argv))
