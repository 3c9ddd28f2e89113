"""What every command-line entry point shares: one line and an exit status for a problem the user
can fix (not a traceback), and running another entry point as a child process."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

from typing import Any, Callable

from absl import app, flags, logging
from ml_collections import ConfigDict, config_flags

from common.errors import STOPPED_EXIT_CODE, USAGE_EXIT_CODE, Stopped, UsageError


def run_main(main_fn, argv):
  """Runs `main_fn(argv)`, turning a `UsageError` into one clear line and exit status 2."""
  try:
    main_fn(argv)
  except UsageError as e:
    print(f"error: {e}", flush=True)
    raise SystemExit(USAGE_EXIT_CODE) from None
  except Stopped as e:
    print(str(e), flush=True)
    raise SystemExit(STOPPED_EXIT_CODE) from None


def parse_flags(argv):
  """absl flag parsing, but a mistyped `--config.FIELD` (or a bad config argument) is one line.

  ml_collections raises AttributeError/KeyError/ValueError from deep inside absl for those, which
  absl would print as a three-part traceback.
  """
  prefix = ""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
  except (AttributeError, KeyError) as e:
    prefix, message = "unknown config field ", str(e)
  except (ValueError, TypeError) as e:
    message = str(e)
  lines = [l.strip(" '\"\\") for l in re.split(r"\\n|\n", message) if l.strip(" '\"\\")]
  if "Traceback" in message:  # An error raised inside the config file: its last line says it.
    lines = lines[-1:]
  message = prefix + " ".join(lines)
  print(f"error: bad flag: {message} (the config file lists every field)", file=sys.stderr)
  raise SystemExit(USAGE_EXIT_CODE)


def run_with_config(train: Callable[[ConfigDict], Any], example: str):
  """The main of a training launcher: `--config=FILE[:ARG]`, any `--config.FIELD=VALUE`, then
  `train(config)`. Called under `if __name__ == "__main__"`, so tests can import launchers."""
  config_flag = config_flags.DEFINE_config_file(
      "config", None, f"Path to a config file, e.g. {example}.", lock_config=True)

  def main(argv):
    logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO; keep the progress.
    if len(argv) > 1:
      raise UsageError(f"unexpected arguments {argv[1:]}; settings go in --config.FIELD=VALUE.")
    if config_flag.value is None:
      raise UsageError(f"pass --config={example} (or another config file).")
    train(config_flag.value)

  app.run(lambda argv: run_main(main, argv), flags_parser=parse_flags)


def run_child(command: list[str]) -> int:
  """Runs a training command (`launch.reproduce`, `launch.search_ram`) and returns its exit code.

  SIGINT/SIGTERM sent to this process (Ctrl-C, or `kill` on it alone) are passed to the child,
  which checkpoints and exits with `STOPPED_EXIT_CODE`. The child has its own session, so a
  terminal's Ctrl-C reaches it once, through here, not twice (a second signal aborts it).
  """
  child = subprocess.Popen(command, start_new_session=True)
  previous = {}
  if threading.current_thread() is threading.main_thread():
    for sig in (signal.SIGINT, signal.SIGTERM):
      previous[sig] = signal.signal(sig, lambda signum, frame: child.send_signal(signum))
  try:
    return child.wait()
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
