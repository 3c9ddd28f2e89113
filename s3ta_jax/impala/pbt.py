"""Population based training (Jaderberg et al. 2017) of `launch.atari` runs on Ray Tune, as the
paper trains its multi-level agent (App. A.1.2): a population (16) that evolves the learning
rate, entropy cost, RMSProp epsilon and gradient-clipping threshold, starting from the experts'
values and evolving once `burn_in_frames` (2e7) have passed, with the mean capped
human-normalised score as fitness (a single-level run: its mean return).

Member i is a normal training run in its own workdir (`PBT_WORKDIR/members/<i>`): it trains
`ready_frames` at a time, then reports its fitness with a Ray checkpoint holding its newest
learner checkpoint (parameters, optimiser state, running statistics) and its last 100 games,
on which the fitness is measured. Ray's
`PopulationBasedTraining` decides: a member in the bottom quantile restarts from a top member's
checkpoint (exploit) with that member's values each multiplied by 1.2 or 0.8 (explore). Every
report is a line of `PBT_WORKDIR/lineage.jsonl` (member, frames, values, fitness, digest of the
parameters, and the donor where it exploited) and `pbt/*` scalars in the member's TensorBoard.

A member whose process dies restarts from its last checkpoint (`FailureConfig`). Re-running the
command resumes a killed population as a new Ray experiment whose member i starts from its
workdir with its last values (lineage.jsonl): Ray's `Tuner.restore` would lose PBT's state
(ray-project/ray#30838) and never exploit again. `ray_address` joins a Ray cluster instead of
starting a local Ray.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time

import jax
import ml_collections
import numpy as np

from common.errors import Stopped, UsageError
from common.workdir import guard_config, read_json, write_json_atomic
from s3ta_jax.impala import levels as levels_lib
from s3ta_jax.impala import pbt_figure

EVOLVED = ("learning_rate", "entropy_cost", "eps", "grad_clip")
MEMBER_FILE = "member.json"
LINEAGE_FILE = "lineage.jsonl"
GAMES_FILE = "games.json"  # In a member's workdir: the last report's recent games.


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


def export_checkpoint(workdir: str, step: int, out: str, info: dict):
  """Puts the member's learner checkpoint `step` (parameters, optimiser state, running
  statistics, frame count) and `info` (member.json) in `out`, a Ray checkpoint's directory."""
  shutil.copytree(os.path.join(workdir, "checkpoints", str(step)),
                  os.path.join(out, "checkpoints", str(step)))
  write_json_atomic(os.path.join(out, MEMBER_FILE), info)


def install_checkpoint(source: str, workdir: str) -> dict:
  """Replaces a member's learner checkpoints with the one of a Ray checkpoint (a donor's, to
  exploit it); returns the checkpoint's member.json."""
  target = os.path.join(workdir, "checkpoints")
  shutil.rmtree(target, ignore_errors=True)
  shutil.copytree(os.path.join(source, "checkpoints"), target)
  return read_json(os.path.join(source, MEMBER_FILE))


def member_index(trial_id: str) -> int:
  """Ray numbers an experiment's trials in the order of the grid over members: 'abc12_00003'
  is member 3 in every experiment (every resume) of the population. (Not a config value: an
  exploit copies the donor's config.)"""
  return int(trial_id.rsplit("_", 1)[-1])


def member_config(base_config: str, values: dict, index: int, pbt_workdir: str):
  """Member `index`'s run config: the base with its evolved values, its own seed (members
  differ from the start) and workdir."""
  config = ml_collections.ConfigDict(json.loads(base_config))
  config.update({k: v for k, v in values.items() if k in EVOLVED})
  config.seed = config.seed + index
  config.workdir = os.path.join(pbt_workdir, "members", str(index))
  return config


def member(values: dict, base_config: str, pbt_workdir: str, ready_frames: int):
  """Ray Tune's trainable: one member of the population (see the module docstring). It keeps
  one `Trainer` (compiled learner, playing actors) from report to report. Ray restarts it to
  exploit (with a donor's checkpoint), after its process died (with its own; its workdir may
  hold a newer one, which it keeps) and whenever Ray's PBT pauses it to let another member run;
  the compilation cache under the PBT workdir makes those restarts cheap."""
  from ray import tune  # pylint: disable=g-import-not-at-top  # Only PBT needs Ray.
  from common import loop  # pylint: disable=g-import-not-at-top
  from common.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top
  from common.metrics import Progress  # pylint: disable=g-import-not-at-top
  from s3ta_jax.impala import atari_loop, system  # pylint: disable=g-import-not-at-top
  from s3ta_jax.impala.learner import to_local  # pylint: disable=g-import-not-at-top

  jax.config.update("jax_compilation_cache_dir", os.path.join(pbt_workdir, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  index = member_index(tune.get_context().get_trial_id())
  config = member_config(base_config, values, index, pbt_workdir)
  os.makedirs(config.workdir, exist_ok=True)
  write_json_atomic(os.path.join(config.workdir, "config.json"), config.to_dict())
  donor, info = None, {}
  restored = tune.get_checkpoint()
  if restored is not None:
    with restored.as_directory() as source:
      info = read_json(os.path.join(source, MEMBER_FILE))
      if info["member"] != index:  # Exploit.
        donor = install_checkpoint(source, config.workdir)
  trainer = system.Trainer(config, Checkpointer(config.workdir), log=lambda *a: None)
  progress = Progress(config.workdir, config.total_frames, start_step=trainer.frames,
                      unit="frames", every_s=0.0, counter="frames")
  # The recent games come with the checkpoint (the donor's, on an exploit; the member's last
  # report's, GAMES_FILE, on a re-run of the command): a fresh window would hold only the games
  # that end soonest after a restart, the worst ones, and the member would be judged on them (a
  # first population exploited the same member over and over).
  games_file = os.path.join(config.workdir, GAMES_FILE)
  games = atari_loop.RecentGames.from_dict(
      info.get("games") if restored is not None else read_json(games_file))
  start = dict(start_frames=trainer.frames, start_params=digest(to_local(trainer.params)),
               start_games=len(games.all))
  try:
    while trainer.frames < config.total_frames:
      target = min((trainer.frames // ready_frames + 1) * ready_frames, config.total_frames)
      control = loop.LoopControl(target, 0, config.checkpoint_every_s, stop_signal=None)
      summary = atari_loop.run(trainer, control, progress, games=games, shutdown=False)
      value = fitness(config, summary)
      entry = dict(member=index, frames=trainer.frames, time=time.time(), fitness=value,
                   values={k: config[k] for k in EVOLVED},
                   params=digest(to_local(trainer.params)),
                   **start)
      if donor is not None:  # This chunk started from a better member's checkpoint.
        entry.update(exploited=donor["member"], donor_params=donor["params"],
                     donor_values=donor["values"])
      start, donor = {}, None
      progress.write(trainer.frames, {f"pbt/{k}": v for k, v in
                                      dict(fitness=value, **entry["values"]).items()})
      with open(os.path.join(pbt_workdir, LINEAGE_FILE), "a") as f:
        f.write(json.dumps(entry) + "\n")
      recent_games = games.to_dict()
      write_json_atomic(games_file, recent_games)
      with tempfile.TemporaryDirectory() as out:  # Ray copies it into its storage.
        export_checkpoint(config.workdir, trainer.step, out,
                          dict(member=index, frames=trainer.frames, params=entry["params"],
                               values=entry["values"], games=recent_games))
        tune.report(dict(fitness=value, frames=trainer.frames, **entry["values"]),
                    checkpoint=tune.Checkpoint.from_directory(out))
  finally:
    trainer.shutdown()
    progress.close()


def train_population(config, pbt, command: list[str] | None = None) -> list[dict]:
  """`python -m launch.pbt`: checks the settings, trains (or resumes) the population in
  `config.workdir`, then draws `population.png` from its lineage. Returns each member's last
  lineage entry. `command` (the launch's argv) is kept in `command.json` for run records."""
  if not config.workdir:
    raise UsageError("config.workdir is empty; pass --config.workdir=DIR (the population's "
                     "directory, e.g. workdirs/pbt_multilevel).")
  try:
    import ray  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    raise UsageError("population based training runs on Ray Tune: pip install -c "
                     "constraints.txt -e '.[pbt]'") from None
  unknown = sorted(set(pbt.evolved) - set(EVOLVED))
  if unknown:
    raise UsageError(f"--pbt.evolved names {unknown}; PBT evolves some of {list(EVOLVED)}.")
  if pbt.population < 2:
    raise UsageError(f"--pbt.population={pbt.population}: a population needs 2 members or more.")
  guarded = ml_collections.ConfigDict(config.to_dict())  # The run's resumable fields stay so.
  guarded.pbt = pbt.to_dict()
  guard_config(config.workdir, guarded)
  if command:
    write_json_atomic(os.path.join(config.workdir, "command.json"), {"command": command})
  if not finished(read_lineage(config.workdir), pbt.population, config.total_frames):
    run_population(config, pbt, verbose=1)
  lineage = read_lineage(config.workdir)
  figure = os.path.join(config.workdir, "population.png")
  if lineage:
    pbt_figure.plot_population(lineage, list(pbt.evolved), figure)
  if not finished(lineage, pbt.population, config.total_frames):  # Ctrl-C.
    raise Stopped(f"population stopped; re-run the same command to resume it (lineage so far: "
                  f"{figure})")
  last = last_reports(lineage)
  best = max(last.values(), key=lambda e: e["fitness"])
  print(f"done: {len(last)} members, {sum(e['frames'] for e in last.values()):,} frames; best "
        f"fitness {best['fitness']:.4g} (member {best['member']}); lineage "
        f"{os.path.join(config.workdir, LINEAGE_FILE)}, figure {figure}", flush=True)
  return [last[i] for i in sorted(last)]


def last_reports(lineage: list[dict]) -> dict[int, dict]:
  """Each member's last lineage entry."""
  return {e["member"]: e for e in lineage}


def finished(lineage: list[dict], population: int, total_frames: int) -> bool:
  """Whether every member has reported at `total_frames` (a re-run then has nothing to train)."""
  last = last_reports(lineage)
  return all(i in last and last[i]["frames"] >= total_frames for i in range(population))


def read_lineage(pbt_workdir: str) -> list[dict]:
  """lineage.jsonl's entries in the order written ([] before the first report)."""
  path = os.path.join(pbt_workdir, LINEAGE_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def last_values(pbt_workdir: str, population: int, start: dict) -> list[dict]:
  """Each member's evolved values at its last report (lineage.jsonl), `start` before any."""
  values = [dict(start) for _ in range(population)]
  for entry in read_lineage(pbt_workdir):
    if entry["member"] < population:
      values[entry["member"]].update(entry["values"])
  return values


def run_population(config, pbt, trainable=member, verbose: int = 0) -> list[dict]:
  """Trains a population of `config` runs under PBT in `config.workdir`, or resumes the one
  there. Returns each member's last result (with its `config`). `trainable` is `member`, or a
  test's wrapper of it."""
  import ray  # pylint: disable=g-import-not-at-top
  from ray import tune  # pylint: disable=g-import-not-at-top
  from ray.tune.schedulers import PopulationBasedTraining  # pylint: disable=g-import-not-at-top

  pbt_workdir = os.path.abspath(config.workdir)
  os.makedirs(pbt_workdir, exist_ok=True)
  if not ray.is_initialized():
    # Ray runs its workers niced (15): here they are the training itself, and niced they starved
    # beside any other busy process on this 2-core machine (tests/test_pbt.py hung).
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(address=pbt.ray_address or None, include_dashboard=False, log_to_driver=False)
  scheduler = PopulationBasedTraining(
      # A member reports at the first update past each multiple of ready_frames, so two reports
      # can be a little under ready_frames apart; Ray skips a report closer than its interval to
      # the last perturbation, hence half: every report past the burn-in may exploit.
      time_attr="frames", perturbation_interval=pbt.ready_frames / 2,
      burn_in_period=pbt.burn_in_frames,
      hyperparam_mutations={k: tune.loguniform(config[k] / 100, config[k] * 100)
                            for k in pbt.evolved},
      quantile_fraction=pbt.quantile_fraction, resample_probability=pbt.resample_probability,
      perturbation_factors=tuple(pbt.perturbation_factors))
  base = config.copy_and_resolve_references()
  base.allow_config_change = True  # Explore changes the evolved values of a member's run.
  trainable = tune.with_resources(
      tune.with_parameters(trainable, base_config=base.to_json(), pbt_workdir=pbt_workdir,
                           ready_frames=int(pbt.ready_frames)),
      {"cpu": pbt.cpus_per_member})
  start = last_values(pbt_workdir, pbt.population, {k: config[k] for k in pbt.evolved})
  # One trial per member (`member_index`), each starting from that member's last values.
  param_space = {"start_as": tune.grid_search(list(range(pbt.population)))}
  param_space.update({k: tune.sample_from(lambda spec, k=k: start[spec.config.start_as][k])
                      for k in pbt.evolved})
  storage = os.path.join(pbt_workdir, "ray")
  attempt = len(os.listdir(storage)) if os.path.isdir(storage) else 0  # A new experiment each run.
  tuner = tune.Tuner(
      trainable, param_space=param_space,
      tune_config=tune.TuneConfig(scheduler=scheduler, metric="fitness", mode="max",
                                  reuse_actors=True),
      run_config=tune.RunConfig(
          name=f"population_{attempt}", storage_path=storage, verbose=verbose,
          stop={"frames": config.total_frames},
          failure_config=tune.FailureConfig(max_failures=pbt.max_failures)))
  results = tuner.fit()
  if results.errors:
    raise RuntimeError(f"{len(results.errors)} member(s) failed beyond max_failures="
                       f"{pbt.max_failures}; their errors are under {storage} (error.txt); "
                       f"re-running the command resumes the population. First: "
                       f"{results.errors[0]}")
  return [dict(r.metrics or {}, config=r.config) for r in results]
