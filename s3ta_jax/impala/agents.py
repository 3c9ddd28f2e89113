"""Builds the agent named by the config: `s3ta_jax.agent` (paper/small S3TA and baselines) or the tiny stand-in.

The actor and learner only use `Agent` below, so the observation size the actors render follows
the agent config (paper: full 210x160 RGB frames, App. A.1.1; small: smaller frames).
"""
from __future__ import annotations

import ast
import importlib
from typing import Any, Callable, NamedTuple

import jax
import ml_collections


class Agent(NamedTuple):
  config: ml_collections.ConfigDict
  num_actions: int
  module: Any                         # flax module with `step` and `unroll` methods
  initial_state: Callable[[int], Any]  # batch_size -> state pytree of zeros
  init_params: Callable[[jax.Array], Any]
  frame_shape: tuple[int, int]         # (H, W) the environments must render

  def step(self, params, obs, prev_action, prev_reward, reset, state):
    return self.module.apply(params, obs, prev_action, prev_reward, reset, state, method="step")

  def unroll(self, params, obs, prev_action, prev_reward, reset, state):
    return self.module.apply(params, obs, prev_action, prev_reward, reset, state,
                             method="unroll")


def frame_shape(config) -> tuple[int, int]:
  """(H, W) of the frames an agent config expects; the paper's 210x160 when it does not say."""
  for h, w in (("frame_height", "frame_width"), ("img_height", "img_width"),
               ("height", "width")):
    if h in config and w in config:
      return int(config[h]), int(config[w])
  for key in ("frame_shape", "obs_shape", "input_shape", "image_size", "frame_size"):
    if key in config:
      return int(config[key][0]), int(config[key][1])
  return 210, 160


def agent_library(name: str):
  """The module providing agent_config/make_agent/initial_state/init_params for `name`."""
  if name == "tiny":
    return importlib.import_module("s3ta_jax.impala.tiny_agent")
  try:
    return importlib.import_module("s3ta_jax.agent")
  except ImportError as e:
    raise ValueError(f"agent {name!r} needs s3ta_jax/agent.py, which failed to import ({e}); "
                     "use --config.agent=tiny for the stand-in agent.") from e


def parse_overrides(text: str) -> dict:
  """'frame_height=84,hidden=128,conv_channels=(16,32)' -> dict of Python literals."""
  out, depth, part = {}, 0, ""
  for ch in text + ",":  # Split on commas outside brackets.
    depth += ch in "([" and 1 or 0
    depth -= ch in ")]" and 1 or 0
    if ch == "," and depth == 0:
      if part.strip():
        key, sep, value = part.partition("=")
        if not sep:
          raise ValueError(f"agent_overrides item {part!r} is not key=value")
        try:
          out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
          out[key.strip()] = value.strip()
      part = ""
    else:
      part += ch
  return out


def agent_config(name: str, overrides: dict | str | None = None) -> ml_collections.ConfigDict:
  """`name` is 'paper', 'small' or 'tiny'; `overrides` (dict or 'k=v,k=v') sets agent fields."""
  config = agent_library(name).agent_config(name)
  if isinstance(overrides, str):
    overrides = parse_overrides(overrides)
  if overrides:
    unknown = sorted(set(overrides) - set(config.keys()))
    if unknown:
      raise ValueError(f"agent_overrides {unknown} are not fields of the {name!r} agent config "
                       f"(fields: {', '.join(sorted(config.keys()))}).")
    config = ml_collections.ConfigDict(config.to_dict())
    config.update(dict(overrides))
  return config


def build(config: ml_collections.ConfigDict, num_actions: int) -> Agent:
  lib = agent_library("tiny" if config.get("kind") == "tiny" else "s3ta")
  module = lib.make_agent(config, num_actions)
  return Agent(config=config, num_actions=num_actions, module=module,
               initial_state=lambda b: lib.initial_state(config, b),
               init_params=lambda rng: lib.init_params(module, config, rng),
               frame_shape=frame_shape(config))
