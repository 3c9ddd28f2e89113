"""The dependency lock: constraints.txt pins every requirement of setup.py within its bounds, the
venv under test is the one it pins, and README's commands and CI install with it."""
import ast
import importlib.metadata
import os

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pins() -> dict[str, str]:
  with open(os.path.join(REPO, "constraints.txt")) as f:
    lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
  pins = {}
  for line in lines:
    name, version = line.split("==")  # Every line an exact pin.
    pins[canonicalize_name(name)] = version
  return pins


def _setup_requirements() -> list[Requirement]:
  """install_requires and the dev extra, read from setup.py's source (running it would install)."""
  with open(os.path.join(REPO, "setup.py")) as f:
    call = next(node for node in ast.walk(ast.parse(f.read()))
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "setup")
  kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords
            if k.arg in ("install_requires", "extras_require")}
  return [Requirement(r) for r in kwargs["install_requires"] + kwargs["extras_require"]["dev"]]


def test_every_requirement_is_pinned_within_setup_pys_bounds():
  pins = _pins()
  for requirement in _setup_requirements():
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{name} is not pinned in constraints.txt"
    assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_the_venv_under_test_is_the_one_the_lock_pins():
  """CI installs with `-c constraints.txt`, so the tests ran against exactly these versions (a venv
  made another way fails here: reinstall with README's command)."""
  mismatched = {}
  for name, version in _pins().items():
    try:
      installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      installed = None
    if installed != version:
      mismatched[name] = (version, installed)
  assert not mismatched, f"pinned vs installed: {mismatched}"


def test_readme_and_ci_install_with_the_lock_and_ci_runs_readmes_test_command():
  with open(os.path.join(REPO, "README.md")) as f:
    commands = [l.strip() for l in f if l.startswith("python3 -m venv .venv")]
  assert len(commands) == 2 and all('pip install' in c and "-c constraints.txt" in c
                                    for c in commands), commands
  with open(os.path.join(REPO, ".ci", "run")) as f:
    ci = [l.strip() for l in f if l.strip() and not l.startswith("#")]
  assert ci[-1] == commands[1]  # The test command, verbatim.
