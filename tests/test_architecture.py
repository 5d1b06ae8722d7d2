"""The package's shape: no import cycle between fairlit's modules, no module over 450 lines."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fairlit"
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the fairlit modules it imports, anywhere in its body (lazy imports too).

    A module importing its own parent package is not an edge (``fairlit.data.base`` may use
    ``fairlit.data.loading``, which goes through ``fairlit.data``).
    """
    modules = _modules()

    def owner(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for target in targets:
                module = owner(target) if target.startswith("fairlit") else ""
                if module and module != name and not name.startswith(f"{module}."):
                    graph[name].add(module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_hand_made_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_fairlit_modules():
    graph = import_graph()
    assert "fairlit.sweep.trials" in graph["fairlit.sweep.worker"]  # the graph sees imports
    assert "fairlit.sweep.pool" in graph["fairlit.sweep.command"]  # lazy ones too
    assert cycles(graph) == []


def test_the_command_line_does_not_reach_into_the_sweep():
    reach = import_graph()["fairlit.cli"]
    assert not any(module.startswith("fairlit.sweep") for module in reach), reach


def test_no_module_is_over_450_lines():
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def _own_raises(function: ast.FunctionDef) -> list[str]:
    """Exception names raised in ``function``'s own body (not in nested functions)."""
    names = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
            ):
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                exc = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                names.append(ast.unparse(exc))
            walk(child)

    walk(function)
    return names


# Abstract methods, exits and re-raised exceptions need no "Raises:" section of their own.
_UNDOCUMENTED = {"NotImplementedError", "SystemExit", "err", "error", "exc"}


def undocumented_raises(source: str) -> list[str]:
    """Public functions and methods that raise without a ``Raises:`` docstring section.

    An ``__init__`` may document its errors in the class docstring (with its Args).
    """
    missing = []

    def visit(node: ast.AST, public: bool, owner: ast.ClassDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, public and not child.name.startswith("_"), child)
            elif isinstance(child, ast.FunctionDef):
                if not public or (child.name.startswith("_") and child.name != "__init__"):
                    continue
                if not set(_own_raises(child)) - _UNDOCUMENTED:
                    continue
                doc = ast.get_docstring(child) or ""
                if child.name == "__init__" and owner is not None:
                    doc += ast.get_docstring(owner) or ""
                if "Raises:" not in doc:
                    prefix = f"{owner.name}." if owner is not None else ""
                    missing.append(f"{prefix}{child.name}")

    visit(ast.parse(source), True, None)
    return missing


def test_the_raises_check_flags_a_hand_made_case():
    source = '''
def documented(x):
    """Doc.

    Raises:
        ValueError: if x is bad.
    """
    raise ValueError(x)


def silent(x):
    """Doc."""
    raise ValueError(x)


def _private(x):
    raise ValueError(x)


class Thing:
    """Doc.

    Raises:
        TypeError: if y is bad.
    """

    def __init__(self, y):
        raise TypeError(y)

    def method(self):
        """Doc."""
        def inner():
            raise KeyError("nested: not this method's own")
        raise NotImplementedError
'''
    assert undocumented_raises(source) == ["silent"]


def test_public_functions_that_raise_document_it():
    missing = {
        str(path.relative_to(PACKAGE.parent)): names
        for path in sorted(PACKAGE.rglob("*.py"))
        if (names := undocumented_raises(path.read_text(encoding="utf-8")))
    }
    assert missing == {}
