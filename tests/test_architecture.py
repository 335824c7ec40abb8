"""The layout keeps its promises: no import circles, small modules, a pure statistics half.

Read from the source with :mod:`ast` (every import, including those inside functions), so
nothing is imported and a circle hidden in a function body is still found.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("analysis", "report")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(path: Path) -> set[str]:
    """Every module name an import statement in ``path`` can refer to."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: {t for t in _imports(p) if t in mods and t != m} for m, p in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_no_module_over_500_lines():
    long = {name: n for name, p in _modules().items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules by concept: {long}"


def test_statistics_half_touches_no_files_and_draws_nothing():
    """analysis.statistics: arrays in, frozen results out (see its package docstring)."""
    forbidden_modules = ("report", "matplotlib", "analysis.embedding", "joblib", "shutil", "tempfile", "pyarrow")
    allowed = {"analysis.embedding.synthetic.planted_mislabels", "analysis.embedding.synthetic"}
    bad = {}
    for name, path in _modules().items():
        if not name.startswith("analysis.statistics"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hits = sorted(t for t in _imports(path) if t not in allowed and t.startswith(forbidden_modules))
        calls = sorted({
            node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            for node in ast.walk(tree) if isinstance(node, ast.Call)
            and ((isinstance(node.func, ast.Name) and node.func.id == "open")
                 or (isinstance(node.func, ast.Attribute)
                     and node.func.attr in {"read_text", "write_text", "read_bytes", "write_bytes", "savefig",
                                            "to_csv", "to_parquet", "read_csv", "read_parquet", "mkdir", "unlink"}))
        })
        if hits or calls:
            bad[name] = hits + calls
    assert bad == {}


def test_page_builders_never_import_the_registry_or_the_driver():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("report.pages.") and name not in ("report.pages.overview", "report.pages.comparisons",
                                                             "report.pages.paper"):
            # Per-analysis builders are what the registry imports; they must not import it back.
            assert "report.steps" not in targets, name
        if name not in ("report.driver", "report.cli"):  # the CLI is the driver's one caller
            assert "report.driver" not in targets, f"{name} imports the driver"
            if name not in ("report.render",):
                assert "report.render" not in targets, f"{name} calls a renderer; only the driver may"


@pytest.mark.parametrize("half", ["analysis.embedding", "analysis.statistics"])
def test_each_half_says_what_belongs_there(half):
    path = _modules()[half]
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc and len(doc.split()) > 40
