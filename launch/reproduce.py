"""Runs the experiments of Mnih et al. 2014 (Tables 1–2, Catch) and writes `docs/results.md`.

  python -m launch.reproduce --set=table1 --data_dir=../shared/data/mnist [--runs_dir=runs]

Runs go one after another through `launch.mnist` / `launch.catch` with workdir
`RUNS_DIR/<name>`, so a part-done row resumes where it stopped and a finished one is skipped.
After every run (and with `--report_only`) `docs/results.md` is rewritten. `--set` is one of
table1, table2, catch, targets, all, or a comma-separated list of experiment names
(`ram_jax/experiments.py` lists them).
"""
from absl import app, flags

from common.cli import run_main
from common.errors import UsageError
from ram_jax import results_report
from s3ta_jax.impala import topdown_table


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}")
  f = flags.FLAGS
  results_report.reproduce(f.set, f.runs_dir, f.data_dir, f.report, f.report_only, f.extra,
                           atari_sections=(topdown_table.lines,))
  print(f"wrote {f.report}")


if __name__ == "__main__":
  flags.DEFINE_string("set", "table1", "Experiment set or comma-separated experiment names.")
  flags.DEFINE_string("runs_dir", "runs", "Parent directory of the runs' workdirs.")
  flags.DEFINE_string("data_dir", "", "MNIST idx directory (default: tensorflow-datasets).")
  flags.DEFINE_string("report", "docs/results.md", "Where to write the results table.")
  flags.DEFINE_bool("report_only", False, "Only rewrite the report from existing runs.")
  flags.DEFINE_list("extra", [], "More overrides for every run, e.g. num_train_steps=1000.")
  app.run(lambda argv: run_main(main, argv))
