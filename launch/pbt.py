"""Population based training of Atari agents on Ray Tune (Mott et al. 2019, App. A.1.2).

  python -m launch.pbt --config=configs/s3ta_atari.py:multilevel --config.workdir=workdirs/pbt
  python -m launch.pbt --config=configs/s3ta_atari.py:multilevel_cpu --pbt=configs/pbt.py:cpu \
      --config.workdir=workdirs/pbt_cpu

`--config` is each member's run (any launch.atari config), `--pbt` the population (population,
evolved values, burn-in, ready interval, factors, Ray address). Each member trains in
WORKDIR/members/<trial>; WORKDIR/lineage.jsonl has every report and exploit, population.png
their figure. Re-running the same command resumes the population. Several hosts: WORKSPACE.md.
"""
import sys

from ml_collections import config_flags

from common.cli import run_with_config
from s3ta_jax.impala import pbt

PBT = config_flags.DEFINE_config_file("pbt", "configs/pbt.py", "Population settings file.",
                                      lock_config=True)

if __name__ == "__main__":
  command = [sys.executable, "-m", "launch.pbt", *sys.argv[1:]]  # Kept for run records.
  run_with_config(lambda config: pbt.train_population(config, PBT.value, command),
                  "configs/s3ta_atari.py:multilevel")
