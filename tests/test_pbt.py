"""Population based training (s3ta_jax/impala/pbt.py): exploit copies the donor's arrays, explore
moves each evolved value by a configured factor, a member whose process dies resumes from its
checkpoint, fitness is the run's mean capped score; a population of two tiny Catch agents on a
local Ray."""
import json
import os
import time

import jax
import numpy as np
import pytest

from common.checkpoint import Checkpointer
from configs.s3ta_atari import get_config
from configs.pbt import get_config as get_pbt_config
from s3ta_jax.impala import pbt, system
from s3ta_jax.impala import learner as learner_lib


def tiny_catch(workdir, seed=0):
  c = get_config("catch")
  c.agent.update(dict(frame_height=12, frame_width=10, channels=4, hidden=8))
  c.batch_size, c.unroll_length = 4, 5  # 80 frames per update.
  c.actor.num_envs, c.actor.env_batch_size = 8, 8
  c.checkpoint_every_s, c.seed, c.workdir = 1e9, seed, str(workdir)
  return c


def host_state(trainer):
  return jax.tree.map(np.asarray, dict(params=learner_lib.to_local(trainer.params),
                                       opt_state=learner_lib.to_local(trainer.opt_state)))


def test_exploit_installs_the_donors_parameters_and_optimiser_state(tmp_path):
  donor = system.Trainer(tiny_catch(tmp_path / "donor"), Checkpointer(str(tmp_path / "donor")),
                         log=lambda *_: None)
  donor.start_actors()
  for _ in range(2):
    donor.update(*donor.next_batch_everywhere())
  donor.shutdown()
  donor.save()
  out = tmp_path / "ray_checkpoint"
  pbt.export_checkpoint(str(tmp_path / "donor"), donor.step, str(out), {"member": "d"})

  member_dir = tmp_path / "member"
  other = system.Trainer(tiny_catch(member_dir, seed=5), Checkpointer(str(member_dir)),
                         log=lambda *_: None)
  other.save()  # The member's own checkpoint, which the exploit replaces.
  assert pbt.install_checkpoint(str(out), str(member_dir)) == {"member": "d"}
  exploited = system.Trainer(tiny_catch(member_dir, seed=5), Checkpointer(str(member_dir)),
                             log=lambda *_: None)
  assert (exploited.frames, exploited.step) == (donor.frames, 2)
  jax.tree.map(np.testing.assert_array_equal, host_state(exploited), host_state(donor))
  assert pbt.digest(host_state(exploited)["params"]) == pbt.digest(host_state(donor)["params"])
  with pytest.raises(AssertionError):  # The seeds differ: its own parameters were not.
    jax.tree.map(np.testing.assert_array_equal, host_state(other)["params"],
                 host_state(donor)["params"])


def test_fitness_is_the_mean_capped_score_of_a_multi_level_run_else_the_mean_return():
  single, multi = get_config("cpu"), get_config("multilevel_cpu")
  summary = dict(return_mean=3.0, capped_hns_mean=0.25)
  assert pbt.fitness(single, summary) == 3.0
  assert pbt.fitness(multi, summary) == 0.25
  assert pbt.fitness(single, dict(return_mean=float("nan"))) < -1e8  # No game yet: the worst.


def test_pbt_config_is_the_papers():
  p = get_pbt_config()
  assert (p.population, p.burn_in_frames) == (16, 2e7)
  assert set(p.evolved) == {"learning_rate", "entropy_cost", "eps", "grad_clip"}


def crashes_once(values, pbt_workdir, **kwargs):
  """The member trainable, except that member 1 crashes (raises) in its second stretch of
  training, once; member 0 starts after that."""
  from ray import tune  # pylint: disable=g-import-not-at-top
  from s3ta_jax.impala import atari_loop  # pylint: disable=g-import-not-at-top
  marker = os.path.join(pbt_workdir, "crashed")
  if pbt.member_index(tune.get_context().get_trial_id()) == 1 and not os.path.exists(marker):
    run, calls = atari_loop.run, []

    def crashing_run(*args, **run_kwargs):
      calls.append(1)
      if len(calls) == 2 and not os.path.exists(marker):
        with open(marker, "w") as f:
          f.write(str(time.time()))
        raise RuntimeError("test: member 1 crashes")
      return run(*args, **run_kwargs)

    atari_loop.run = crashing_run  # This worker process only.
    try:
      return pbt.member(values, pbt_workdir=pbt_workdir, **kwargs)
    finally:
      atari_loop.run = run
  while not os.path.exists(marker):  # Member 0 waits, so the two then train side by side.
    time.sleep(0.1)
  return pbt.member(values, pbt_workdir=pbt_workdir, **kwargs)


@pytest.fixture(scope="module")
def population(tmp_path_factory):
  ray = pytest.importorskip("ray")
  workdir = tmp_path_factory.mktemp("pbt")
  config = tiny_catch(workdir)
  config.total_frames = 1120  # 14 updates; a report every 2.
  p = get_pbt_config("test")
  import sys  # pylint: disable=g-import-not-at-top
  ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Workers can't import tests.
  os.environ.setdefault("RAY_worker_niceness", "0")  # As run_population's own Ray (pbt.py).
  ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
  try:
    results = pbt.run_population(config, p, trainable=crashes_once)
  finally:
    ray.shutdown()
  lineage = pbt.read_lineage(str(workdir))
  return config, p, results, lineage


def test_population_trains_every_member_to_the_end(population):
  config, p, results, lineage = population
  assert len(results) == p.population
  assert all(r["frames"] == config.total_frames for r in results)
  assert {e["member"] for e in lineage} == {pbt.member_index(r["trial_id"]) for r in results} == {0, 1}


def test_exploit_starts_from_the_donors_parameters_and_explore_scales_each_value(population):
  _, p, _, lineage = population
  exploits = [e for e in lineage if "exploited" in e]
  assert exploits, "no member exploited another"
  for e in exploits:
    assert e["start_params"] == e["donor_params"]  # sha256 of every parameter array.
    assert e["start_games"] > 0  # The donor's recent games came with its checkpoint.
    assert e["exploited"] != e["member"]
    for name in p.evolved:
      ratio = e["values"][name] / e["donor_values"][name]
      assert min(abs(ratio - f) for f in p.perturbation_factors) < 1e-9, (name, ratio)


def test_a_member_that_crashed_resumes_from_its_checkpoint(population):
  config, _, _, lineage = population
  with open(os.path.join(config.workdir, "crashed")) as f:
    crashed_at = float(f.read())
  before = [e for e in lineage if e["member"] == 1 and e["time"] < crashed_at]
  after = [e for e in lineage if e["member"] == 1 and e["time"] > crashed_at]
  assert after, "member 1 did not train again after its crash"
  assert after[0]["start_games"] > 0  # Its recent games came back with the checkpoint.
  if "exploited" not in after[0]:  # Else it restarted from a donor's checkpoint instead.
    assert after[0]["start_frames"] >= before[-1]["frames"]  # From its checkpoint, not anew.
