"""Speed benchmarks: `python -m launch.benchmark {ram,s3ta,atari,classify} [flags]`.

Each target lives in its own module (`launch/bench_<what>.py`) with a `main(argv)`; this file
only dispatches, so the benchmarks stay independent of each other.
"""
import importlib
import sys

TARGETS = {
    "ram": "launch.bench_ram",      # RAM training images/s and compile time.
    "s3ta": "launch.bench_s3ta",    # S3TA shapes, parameter counts, actor/learner steps/s.
    "atari": "launch.bench_atari",  # envpool, actor, learner and full-pipeline frames/s.
    "classify": "launch.bench_classify",  # Input pipeline and classifier train-step images/s.
}


def main(argv):
  if len(argv) < 2 or argv[1] not in TARGETS:
    print(f"usage: python -m launch.benchmark {{{','.join(TARGETS)}}} [flags]", file=sys.stderr)
    raise SystemExit(2)
  module = importlib.import_module(TARGETS[argv[1]])
  module.main([argv[0]] + argv[2:])


if __name__ == "__main__":
  main(sys.argv)
