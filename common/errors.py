"""The two exceptions a training job ends with besides success, and their exit status."""
from __future__ import annotations


class UsageError(Exception):
  """A problem the user can fix (bad config, missing data). Launchers print it without a traceback."""


class Stopped(Exception):
  """A run stopped on request (Ctrl-C, SIGTERM) after saving its checkpoint; exit status 130."""


USAGE_EXIT_CODE = 2  # As absl and argparse exit on a bad flag.
STOPPED_EXIT_CODE = 130  # The shell's status for a job ended by Ctrl-C.
