"""Trains RAM (or an FC / conv baseline) on an MNIST-family task (Mnih et al. 2014, sec. 4.1).

  python -m launch.mnist --config=configs/ram_cluttered60.py --config.data_dir=DIR --config.workdir=DIR

`--config=FILE:fc` / `:conv` runs the baselines of Tables 1–2 on the same task. Re-running the
same command resumes from the last checkpoint. What it writes: `ram_jax/mnist_loop.py`.
"""
from common.cli import run_with_config
from ram_jax import mnist_loop

if __name__ == "__main__":
  run_with_config(mnist_loop.train, "configs/ram_mnist.py")
