"""Issue 21: the package layout is a contract. The library (functional, nn, kernels, models,
deploy) never imports the reproduction (repro); functional imports nothing of ours, kernels
only functional; there is no import cycle (counting imports inside functions); no module is
over 300 lines; `from snn_tha.nn import ...` loads neither YAML nor the reproduction."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "snn_tha"
LIBRARY = ("functional", "nn", "kernels", "models", "deploy")
MAX_LINES = 300


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path, known):
    """snn_tha modules `path` imports (anywhere in the file), resolved to known modules."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.startswith("snn_tha"):
                while name not in known and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in known:
                    found.add(name)
    return found


def graph():
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def package_of(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_library_never_imports_the_reproduction():
    bad = [(a, b) for a, targets in graph().items() if package_of(a) in LIBRARY
           for b in targets if package_of(b) == "repro"]
    assert not bad, bad


@pytest.mark.parametrize("package, allowed", [("functional", {"functional"}),
                                              ("kernels", {"kernels", "functional"})])
def test_functional_and_kernels_import_only_themselves(package, allowed):
    bad = [(a, b) for a, targets in graph().items() if package_of(a) == package
           for b in targets if package_of(b) not in allowed and b != "snn_tha"]
    assert not bad, bad


def test_no_import_cycle():
    edges = graph()
    # the package __init__ files re-export their modules: an edge into a package is an edge
    # into what it re-exports, so only module -> module edges can close a cycle
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if nxt.count(".") == 0 or nxt == node:
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"
    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_no_module_over_300_lines_cpp_included():
    sources = [*modules().values(), *PACKAGE.rglob("*.cpp")]
    long = {str(p.relative_to(PACKAGE)): n for p in sources if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_the_top_level_holds_packages_only():
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py"]


def test_the_reproduction_is_grouped_by_job():
    """repro/: a dozen modules at most at its top (configs, schema, catalogue, paths, files,
    provenance), the rest in one package per job."""
    repro = PACKAGE / "repro"
    assert len(list(repro.glob("*.py"))) <= 12
    jobs = sorted(p.name for p in repro.iterdir() if (p / "__init__.py").is_file())
    assert jobs == ["bench", "cli", "data", "export", "paper", "run", "sweep"], jobs


def test_importing_the_nn_api_loads_no_yaml_and_no_reproduction():
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "from snn_tha.nn import Leaky, ThresholdAnnealing"],
                          capture_output=True, text=True, check=True)
    loaded = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "snn_tha.nn.neurons" in loaded
    assert not [m for m in loaded if m.split(".")[0] == "yaml" or m.startswith("snn_tha.repro")], \
        [m for m in loaded if m.startswith(("yaml", "snn_tha"))]
