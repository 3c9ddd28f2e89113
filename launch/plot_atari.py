"""Learning curve of a `launch.atari` run: mean return of the last 100 games and policy entropy;
for a `launch.pbt` workdir, the population's fitness and evolved values.

  python -m launch.plot_atari --workdir=workdirs/s3ta_breakout_cpu --out=docs/figures/impala/x.png \
      [--record=docs/run_records/atari_NAME.json]
  python -m launch.plot_atari --compare=s3ta=workdirs/a,lstm=workdirs/b --out=docs/figures/x.png

Works on a running or stopped run. `--record` also writes the run record (training command,
mean return at each milestone, the figure) of the Atari table of `docs/results.md`; of a
population, each member's fitness, values and per-level returns (its multi-level section).
"""
from absl import app, flags

from common.cli import run_main
from common.errors import UsageError
from s3ta_jax.impala import curves, population_record


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]}")
  f = flags.FLAGS
  if f.compare:
    written = [curves.compare(f.compare, f.out, f.title)]
  elif f.workdir and population_record.is_population(f.workdir):
    written = population_record.plot(f.workdir, f.out, f.title, f.record)
  elif f.workdir:
    written = curves.plot_run(f.workdir, f.out, f.title, f.record)
  else:
    raise UsageError("pass --workdir=DIR (or --compare=LABEL=DIR,...).")
  print("wrote " + ", ".join(written))


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "A launch.atari or launch.pbt workdir.")
  flags.DEFINE_list("compare", [], "LABEL=WORKDIR items: draw these runs' returns on one figure.")
  flags.DEFINE_string("out", "", "PNG path (default WORKDIR/returns.png).")
  flags.DEFINE_string("title", "", "Plot title (default: the workdir's name).")
  flags.DEFINE_string("record", "", "Also write a run record here (docs/run_records/atari_*.json).")
  app.run(lambda argv: run_main(main, argv))
