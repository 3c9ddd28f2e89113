"""Population based training (Jaderberg et al. 2017) of `launch.atari` runs on Ray Tune, as the
paper trains its multi-level agent (App. A.1.2): a population (16) that evolves the learning
rate, entropy cost, RMSProp epsilon and gradient-clipping threshold, starting from the experts'
values and evolving once `burn_in_frames` (2e7) have passed, with the mean capped
human-normalised score as fitness (a single-level run: its mean return).

Each member is a normal training run with its own workdir (`PBT_WORKDIR/members/<trial>`): it
trains `ready_frames` at a time through `atari_loop.train` (resuming from its checkpoint), then
reports its fitness with a Ray checkpoint holding its newest learner checkpoint (parameters,
optimiser state, running statistics). Ray's `PopulationBasedTraining` decides: a member in the
bottom quantile restarts from a top member's checkpoint (exploit) with that member's values each
multiplied by 1.2 or 0.8 (explore). Every report is a line of `PBT_WORKDIR/lineage.jsonl`
(member, frames, values, fitness, and the donor where it exploited). Re-running the same command
resumes the population (`Tuner.restore`); a member whose process dies restarts from its last
checkpoint (`FailureConfig`). `ray_address` joins a Ray cluster instead of starting a local Ray.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

import jax
import ml_collections
import numpy as np

from common.workdir import read_json, write_json_atomic
from s3ta_jax.impala import levels as levels_lib

EVOLVED = ("learning_rate", "entropy_cost", "eps", "grad_clip")
MEMBER_FILE = "member.json"


def pbt_config() -> ml_collections.ConfigDict:
  """The paper's settings (App. A.1.2); `ready_frames` and the quantile follow IMPALA's PBT."""
  c = ml_collections.ConfigDict()
  c.population = 16
  c.evolved = EVOLVED
  c.burn_in_frames = int(2e7)   # "let the agent train for 2e7 frames before beginning evolution"
  c.ready_frames = int(1e7)     # Frames between a member's fitness reports (and possible exploits).
  c.perturbation_factors = (1.2, 0.8)
  c.quantile_fraction = 0.25    # The bottom quarter copies the top quarter.
  c.resample_probability = 0.0  # Explore only by the factors: values stay near the experts'.
  c.cpus_per_member = 1.0
  c.max_failures = 3            # Restarts of a member whose process dies.
  c.ray_address = ""            # "" starts a local Ray; "auto" or HOST:PORT joins a cluster.
  return c


def fitness(config, summary: dict) -> float:
  """A member's fitness from its chunk's summary (`atari_loop.run`): the mean capped
  human-normalised score of a multi-level run, else the mean return of its last games."""
  key = "capped_hns_mean" if levels_lib.parse_levels(config.levels) else "return_mean"
  value = summary.get(key, float("nan"))
  return float(value) if np.isfinite(value) else -1e9  # No finished game yet: the worst.


def digest(tree) -> str:
  """sha256 over a pytree's arrays: equal digests, equal parameters bit for bit."""
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
  return h.hexdigest()


def _install_checkpoint(source: str, workdir: str) -> dict:
  """Replaces the member's learner checkpoints with the one in a Ray checkpoint (its own after a
  restart, a donor's after an exploit); returns the Ray checkpoint's member.json."""
  info = read_json(os.path.join(source, MEMBER_FILE))
  target = os.path.join(workdir, "checkpoints")
  shutil.rmtree(target, ignore_errors=True)
  shutil.copytree(os.path.join(source, "checkpoints"), target)
  return info


def member(values: dict, base_config: str, pbt_workdir: str, ready_frames: int):
  """Ray Tune's trainable: one member of the population (see the module docstring)."""
  from ray import tune  # pylint: disable=g-import-not-at-top  # Only PBT needs Ray.
  from common.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top
  from s3ta_jax.impala import atari_loop, system  # pylint: disable=g-import-not-at-top
  from common import loop  # pylint: disable=g-import-not-at-top

  trial = tune.get_context().get_trial_id()
  config = ml_collections.ConfigDict(json.loads(base_config))
  config.update({k: v for k, v in values.items() if k in EVOLVED})
  config.seed = config.seed + int(trial.rsplit("_", 1)[-1])  # Members differ from the start.
  config.workdir = os.path.join(pbt_workdir, "members", trial)
  os.makedirs(config.workdir, exist_ok=True)
  write_json_atomic(os.path.join(config.workdir, "config.json"), config.to_dict())
  donor = None
  restored = tune.get_checkpoint()
  if restored is not None:
    with restored.as_directory() as source:
      info = _install_checkpoint(source, config.workdir)
    donor = info if info["member"] != trial else None
  while True:
    trainer = system.Trainer(config, Checkpointer(config.workdir), log=lambda *a: None)
    start_digest = digest(trainer._host_state()["params"])  # pylint: disable=protected-access
    if trainer.frames >= config.total_frames:
      return
    target = min(trainer.frames + ready_frames, config.total_frames)
    control = loop.LoopControl(target, 0, config.checkpoint_every_s, stop_signal=None)
    summary = atari_loop.run(trainer, control)  # Checkpoints at its end.
    value = fitness(config, summary)
    entry = dict(member=trial, frames=trainer.frames, fitness=value,
                 values={k: config[k] for k in EVOLVED},
                 params=digest(trainer._host_state()["params"]))  # pylint: disable=protected-access
    if donor is not None:  # This chunk started from a better member's checkpoint.
      entry.update(exploited=donor, start_params=start_digest)
      donor = None
    with open(os.path.join(pbt_workdir, "lineage.jsonl"), "a") as f:
      f.write(json.dumps(entry) + "\n")
    with tempfile.TemporaryDirectory() as out:
      step = str(trainer.step)
      shutil.copytree(os.path.join(config.workdir, "checkpoints", step),
                      os.path.join(out, "checkpoints", step))
      write_json_atomic(os.path.join(out, MEMBER_FILE),
                        dict(member=trial, frames=trainer.frames, params=entry["params"],
                             values=entry["values"]))
      tune.report(dict(fitness=value, frames=trainer.frames),
                  checkpoint=tune.Checkpoint.from_directory(out))


def run_population(config, pbt) -> list[dict]:
  """Trains a population of `config` runs under PBT in `config.workdir`; resumes one found there.
  Returns each member's last result."""
  import ray  # pylint: disable=g-import-not-at-top
  from ray import tune  # pylint: disable=g-import-not-at-top
  from ray.tune.schedulers import PopulationBasedTraining  # pylint: disable=g-import-not-at-top

  pbt_workdir = os.path.abspath(config.workdir)
  os.makedirs(pbt_workdir, exist_ok=True)
  if not ray.is_initialized():
    ray.init(address=pbt.ray_address or None, include_dashboard=False, log_to_driver=False)
  scheduler = PopulationBasedTraining(
      time_attr="frames", perturbation_interval=pbt.ready_frames,
      burn_in_period=pbt.burn_in_frames,
      hyperparam_mutations={k: tune.loguniform(config[k] / 100, config[k] * 100)
                            for k in pbt.evolved},
      quantile_fraction=pbt.quantile_fraction, resample_probability=pbt.resample_probability,
      perturbation_factors=tuple(pbt.perturbation_factors))
  base = config.copy_and_resolve_references()
  base.allow_config_change = True  # Explore changes the evolved values of a member's run.
  trainable = tune.with_resources(
      tune.with_parameters(member, base_config=base.to_json(), pbt_workdir=pbt_workdir,
                           ready_frames=int(pbt.ready_frames)),
      {"cpu": pbt.cpus_per_member})
  storage = os.path.join(pbt_workdir, "ray")
  if tune.Tuner.can_restore(os.path.join(storage, "population")):
    tuner = tune.Tuner.restore(os.path.join(storage, "population"), trainable,
                               resume_errored=True)
  else:
    tuner = tune.Tuner(
        trainable, param_space={k: config[k] for k in pbt.evolved},
        tune_config=tune.TuneConfig(scheduler=scheduler, metric="fitness", mode="max",
                                    num_samples=pbt.population, reuse_actors=False),
        run_config=tune.RunConfig(
            name="population", storage_path=storage, verbose=0,
            stop={"frames": config.total_frames},
            failure_config=tune.FailureConfig(max_failures=pbt.max_failures)))
  results = tuner.fit()
  return [dict(r.metrics or {}, config=r.config) for r in results]
