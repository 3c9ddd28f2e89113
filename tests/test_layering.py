"""The import structure WORKSPACE.md promises, read from the source: layers (common < ram_jax <
s3ta_jax < configs < launch) import only downwards, launchers import no launcher, nothing imports
the research area or the tests import a launcher, and no import cycle between modules."""
import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("common", "ram_jax", "s3ta_jax", "configs", "launch")


def _modules() -> dict[str, str]:
  """{dotted module name: path} of every first-party module."""
  out = {}
  for package in LAYERS:
    for root, _, files in os.walk(os.path.join(REPO, package)):
      for name in files:
        if name.endswith(".py"):
          rel = os.path.relpath(os.path.join(root, name), REPO)[:-3].replace(os.sep, ".")
          out[rel.removesuffix(".__init__")] = os.path.join(root, name)
  return out


MODULES = _modules()


def _imports(path: str) -> set[str]:
  """The first-party modules `path` imports, at module level or inside functions."""
  with open(path) as f:
    tree = ast.parse(f.read())
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
               for a in node.names]
    else:
      continue
    out.update(n for n in names if n.split(".")[0] in LAYERS)
  return out


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_layers_import_only_downwards():
  rank = {layer: i for i, layer in enumerate(LAYERS)}
  upward = [(m, i) for m, imports in GRAPH.items() for i in imports
            if rank[i.split(".")[0]] > rank[m.split(".")[0]]]
  assert not upward, upward


def test_no_launcher_imports_another_and_nothing_imports_research_code():
  assert not [(m, i) for m, imports in GRAPH.items() if m.startswith("launch.")
              for i in imports if i.startswith("launch")]
  assert not [(m, i) for m, imports in GRAPH.items() if not m.startswith("s3ta_jax.research")
              for i in imports if i.startswith("s3ta_jax.research")]


def test_tests_do_not_import_launchers():
  """Launchers are tested through their command line (subprocesses), the rest in the library."""
  for name in os.listdir(os.path.join(REPO, "tests")):
    if name.endswith(".py"):
      imports = _imports(os.path.join(REPO, "tests", name))
      assert not [i for i in imports if i.startswith("launch")], name


def test_no_import_cycles():
  state = {}  # Module -> "visiting" or "done" (depth-first search).

  def visit(module, path):
    state[module] = "visiting"
    for imported in sorted(GRAPH.get(module, ())):
      if state.get(imported) == "visiting":
        raise AssertionError("import cycle: " + " -> ".join(path + [module, imported]))
      if imported not in state:
        visit(imported, path + [module])
    state[module] = "done"

  for module in sorted(GRAPH):
    if module not in state:
      visit(module, [])
