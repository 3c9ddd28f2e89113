"""Wires actors and learner: config checks, parameter broadcast, actor supervision, checkpoints
(the training loop over a `Trainer` is `atari_loop.run`).

Every process (multi-host via `jax.distributed.initialize`, done by the launcher) runs its own
actor threads and feeds its share of each batch (batch_size / num_processes unrolls) to the
learner; the update is one SPMD step over the learner devices of all processes, so parameters
stay identical everywhere. Actors get new parameters after every update (`ParamStore`).
"""
from __future__ import annotations

import queue
import threading
from typing import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from s3ta_jax.impala import agents as agents_lib
from s3ta_jax.impala import envs as envs_lib
from s3ta_jax.impala import levels as levels_lib
from s3ta_jax.impala import migrate
from s3ta_jax.impala.agents import trained
from s3ta_jax.impala.actor import Actor, EpisodeLog, ParamStore
from s3ta_jax.impala.env_types import ACTION_REPEAT
from s3ta_jax.impala.learner import (Learner, LossConfig, learner_devices, loss_scale,
                                    stack_trajectories, to_local)


class ActorCrashed(RuntimeError):
  """An actor thread died; carries its traceback so the run fails loudly instead of hanging."""


def loss_config(config) -> LossConfig:
  return LossConfig(discount=config.discount, entropy_cost=config.entropy_cost,
                    baseline_cost=config.baseline_cost, reward_clip=config.reward_clip,
                    scale=loss_scale(config))


def check_config(config, num_processes: int, num_learner_devices_global: int):
  """Raises ValueError naming the field and the fix for configs that cannot run as given."""
  b = config.batch_size
  if b <= 0 or config.unroll_length <= 0:
    raise ValueError(f"batch_size ({b}) and unroll_length ({config.unroll_length}) must be > 0")
  if b % num_processes:
    raise ValueError(f"batch_size {b} does not divide over {num_processes} processes; "
                     f"set --config.batch_size to a multiple of {num_processes}.")
  if b % num_learner_devices_global:
    raise ValueError(f"batch_size {b} does not divide over {num_learner_devices_global} learner "
                     f"devices; set --config.batch_size to a multiple of "
                     f"{num_learner_devices_global} (or change learner_device_ids).")
  a = config.actor
  if a.env_batch_size > a.num_envs or a.env_batch_size <= 0:
    raise ValueError(f"actor.env_batch_size {a.env_batch_size} must be in 1..actor.num_envs "
                     f"({a.num_envs}); async envpool needs env_batch_size <= num_envs.")
  if a.num_actors <= 0:
    raise ValueError("actor.num_actors must be >= 1")
  levels_lib.check_levels(config.levels)


def local_device(index: int) -> jax.Device:
  local = jax.local_devices()
  if index >= len(local):
    raise ValueError(f"device index {index} but this process has {len(local)} devices; fix "
                     "actor.device_ids / learner_device_ids.")
  return local[index]


def env_factory(config, frame_shape, actor_index: int) -> Callable:
  """The envs of this process's actor `actor_index`: `actor.num_envs` of `config.env_name`, or
  of each of its levels in a multi-level run (`levels.actor_levels`), with the full action set."""
  a = config.actor
  seed = config.seed * 1000 + jax.process_index() * 100 + actor_index
  levels = levels_lib.parse_levels(config.levels)

  def make_one(name, **kwargs):
    return envs_lib.make_envs(name, a.num_envs, a.env_batch_size, frame_shape[0], frame_shape[1],
                              episodic_life=config.episodic_life, seed=seed,
                              **({} if envs_lib.is_catch(name)
                                 else dict(num_threads=a.env_threads, **kwargs)))

  def make():
    if not levels:
      return make_one(config.env_name)
    mine = levels_lib.actor_levels(levels, jax.process_count(), jax.process_index(),
                                   a.num_actors)[actor_index]
    return levels_lib.MultiLevelEnvs([make_one(name, full_action_space=True) for name in mine],
                                     mine)
  return make


def num_actions_of(config, frame_shape) -> int:
  if levels_lib.parse_levels(config.levels):
    return levels_lib.FULL_ACTION_SET
  env = envs_lib.make_envs(config.env_name, 1, 1, frame_shape[0], frame_shape[1])
  try:
    return env.num_actions
  finally:
    env.close()


def restore_learner_state(checkpointer, variables, optimizer,
                          set_aside_damaged: bool = False) -> dict:
  """{params, opt_state, frames, step} of the newest checkpoint that restores, in today's layout
  (`migrate.checkpoint_layouts`); `variables` (the agent's, e.g. freshly initialised) give the
  shapes. `set_aside_damaged`: see `Checkpointer.restore` (a resuming run)."""
  like = dict(params=variables, opt_state=optimizer.init(trained(variables)),
              frames=np.int64(0), step=np.int64(0))
  return checkpointer.restore(like, older_layouts=migrate.checkpoint_layouts(like, optimizer),
                              set_aside_damaged=set_aside_damaged)


class Trainer:
  """Holds the learner state and the actor threads of this process (`atari_loop.run` trains)."""

  def __init__(self, config, checkpointer=None, log: Callable = print):
    """`checkpointer` (e.g. `common.checkpoint.Checkpointer(workdir)`: `latest_step`, `restore`,
    `save`) is where the run resumes from and saves to; None trains without checkpoints."""
    self.config, self.log = config, log
    self.agent_config = config.agent
    frame_shape = agents_lib.frame_shape(self.agent_config)
    devices = learner_devices(list(config.learner_device_ids) or
                              list(range(jax.local_device_count())))
    check_config(config, jax.process_count(), len(devices))
    self.num_actions = num_actions_of(config, frame_shape)
    self.agent = agents_lib.for_run(config, self.num_actions)
    self.learner = Learner(self.agent, config, devices, loss_config(config))
    self.local_batch = config.batch_size // jax.process_count()
    self.frames_per_update = config.batch_size * config.unroll_length * ACTION_REPEAT
    self.frame_shape = frame_shape

    params = self.agent.init_params(jax.random.PRNGKey(config.seed))
    self.params, self.opt_state = self.learner.init(params)
    self.frames, self.step = 0, 0
    self.checkpointer = checkpointer
    if checkpointer is not None and checkpointer.latest_step() is not None:
      state = restore_learner_state(checkpointer, self._host_state()["params"],
                                    self.learner.optimizer, set_aside_damaged=True)
      self.params = self.learner.replicate(state["params"])
      self.opt_state = self.learner.replicate(state["opt_state"])
      self.frames, self.step = int(state["frames"]), int(state["step"])
      log(f"resumed from {checkpointer.directory} at step {self.step}, {self.frames:,} frames")

    self.param_store = ParamStore()
    self.param_store.set(self.params)
    self.queue: queue.Queue = queue.Queue(maxsize=config.queue_size)
    self.stop = threading.Event()
    self.episodes = EpisodeLog()
    self.actors: list[Actor] = []

  def _host_state(self):
    return dict(params=to_local(self.params), opt_state=to_local(self.opt_state),
                frames=np.int64(self.frames), step=np.int64(self.step))

  def save(self, wait: bool = True):
    if self.checkpointer is not None:
      self.checkpointer.save(self.step, self._host_state(), wait=wait)

  def start_actors(self, make_env: Callable[[int], Callable] | None = None):
    a = self.config.actor
    ids = list(a.device_ids) or [0]
    for i in range(a.num_actors):
      factory = (make_env or (lambda j: env_factory(self.config, self.frame_shape, j)))(i)
      actor = Actor(i, self.agent, factory, self.param_store, self.queue,
                    self.config.unroll_length, local_device(ids[i % len(ids)]),
                    seed=self.config.seed * 7919 + jax.process_index() * 131 + i,
                    stop=self.stop, episodes=self.episodes)
      self.actors.append(actor.start())

  def check_actors(self):
    for a in self.actors:
      if a.error is not None:
        self.stop.set()
        raise ActorCrashed(f"actor {a.actor_id} crashed with {type(a.error).__name__}: "
                           f"{a.error}\n--- actor traceback ---\n{a.error_text}") from a.error
    if self.actors and not any(a.thread.is_alive() for a in self.actors):
      raise ActorCrashed("all actor threads exited without producing data")

  def next_trajectory(self):
    while True:
      self.check_actors()
      try:
        return self.queue.get(timeout=0.2)
      except queue.Empty:
        continue

  def next_batch(self):
    trajs = [self.next_trajectory() for _ in range(self.local_batch)]
    return stack_trajectories(trajs)

  def next_batch_everywhere(self):
    """`next_batch`, and every process learns whether another one's actors crashed.

    A process whose actors crash cannot join the next update's all-reduce, so the others would
    wait in it forever. Instead each process, once it has its batch (or its crash), joins a small
    all-gather of crash flags before the update, and all of them raise together.
    """
    try:
      batch, error = self.next_batch(), None
    except ActorCrashed as e:
      batch, error = None, e
    if jax.process_count() > 1:
      flags = multihost_utils.process_allgather(np.array([error is not None], np.int32))
      crashed = [i for i, f in enumerate(np.asarray(flags).reshape(-1)) if f]
      if crashed and error is None:
        self.stop.set()
        raise ActorCrashed(f"the actors of process {crashed} crashed (that process prints the "
                           f"error); process {jax.process_index()} stops too")
    if error is not None:
      raise error
    return batch

  def update(self, batch, init_state):
    traj, init_state = self.learner.shard_batch(batch, init_state)
    self.params, self.opt_state, metrics = self.learner.update(
        self.params, self.opt_state, traj, init_state)
    self.param_store.set(self.params)
    self.step += 1
    self.frames += self.frames_per_update
    return metrics

  def shutdown(self):
    self.stop.set()
    for a in self.actors:
      a.thread.join(timeout=10)
