"""Speed benchmarks: `python -m launch.benchmark {ram,s3ta,atari,classify} [flags]`.

  ram       RAM training images/s and compile time (ram_jax/benchmark.py).
  s3ta      S3TA agent shapes, parameter counts, actor/learner steps/s (s3ta_jax/benchmark.py).
  atari     envpool, actor, learner and full-pipeline frames/s (s3ta_jax/impala/benchmark.py).
  classify  input pipeline and classifier train-step images/s (s3ta_jax/classify_benchmark.py).

Each prints GFLOP/s beside the machine's matmul peak (common/flops.py); `... <what> --help` lists
its flags.
"""
import sys


def _ram(argv):
  from configs import mnist_base
  from ram_jax import benchmark
  benchmark.main(argv, mnist_base.base_config("ram"))


def _s3ta(argv):
  from s3ta_jax import benchmark
  benchmark.main(argv)


def _atari(argv):
  from configs import s3ta_atari
  from s3ta_jax.impala import benchmark
  benchmark.main(argv, s3ta_atari.get_config)


def _classify(argv):
  from s3ta_jax import classify_benchmark
  classify_benchmark.main(argv)


TARGETS = {"ram": _ram, "s3ta": _s3ta, "atari": _atari, "classify": _classify}

if __name__ == "__main__":
  if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
    print(f"usage: python -m launch.benchmark {{{','.join(TARGETS)}}} [flags]", file=sys.stderr)
    raise SystemExit(2)
  TARGETS[sys.argv[1]]([sys.argv[0]] + sys.argv[2:])
