"""Trains the RAM agent on Catch (Mnih et al. 2014, sec. 4.2) with REINFORCE.

  python -m launch.catch --config=configs/ram_catch.py --config.workdir=workdirs/ram_catch

Prints a progress line (step, training catch rate, frames/s, ETA) and the greedy catch rate at
each evaluation; re-running the same command resumes. What it writes: `ram_jax/catch_loop.py`.
"""
from common.cli import run_with_config
from ram_jax import catch_loop

if __name__ == "__main__":
  run_with_config(catch_loop.train, "configs/ram_catch.py")
