"""Random search over RAM's learning rate, location std and REINFORCE weight (Mnih et al. 2014,
sec. 4.1: "hyper-parameters ... were selected using random search").

  python -m launch.search_ram --config=configs/ram_cluttered60.py:first_reading \
      --data_dir=../shared/data/mnist --trials=10 --steps=6000 --runs_dir=runs/search_cluttered60 \
      --report=docs/search_cluttered60.md

Each trial is a short `launch.mnist` run; re-running the command skips finished trials and
resumes a part-done one. Trials are ranked by validation error (`ram_jax/search.py`).
"""
from absl import app, flags

from common.cli import run_main
from common.errors import UsageError
from ram_jax import search


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}")
  f = flags.FLAGS
  name, params, error = search.run_search(f.config, f.data_dir, f.trials, f.steps, f.seed,
                                          f.runs_dir, f.report)
  print(f"best: {name} {params} validation error {100 * error:.2f}%; wrote {f.report}")


if __name__ == "__main__":
  flags.DEFINE_string("config", "configs/ram_cluttered60.py", "Config file of the task to tune.")
  flags.DEFINE_string("data_dir", "", "MNIST idx directory (default: tensorflow-datasets).")
  flags.DEFINE_integer("trials", 10, "Number of random trials.")
  flags.DEFINE_integer("steps", 6000, "Updates per trial.")
  flags.DEFINE_integer("seed", 0, "Seed of the sampled hyper-parameters.")
  flags.DEFINE_string("runs_dir", "runs/search", "Parent directory of the trials' workdirs.")
  flags.DEFINE_string("report", "docs/search.md", "Where to write the ranked table.")
  app.run(lambda argv: run_main(main, argv))
