"""The package's import graph: no cycle anywhere (between modules, nor between sub-packages), and no library
module imports the command line.

Built with `ast` from every `import` in `keras_contrastive/`, at module level and inside functions alike
(a function-level import is still a dependency, only a later one), and from the module names of a package's
lazy `_LAZY = {attribute: "module"}` map. Importing `a.b.c` also runs the
`__init__` of `a` and `a.b`, so those are edges too (except the importer's own packages, initialised before it).
"""

import ast
import os

PACKAGE = "keras_contrastive"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package_modules(root, package=PACKAGE):
    """`{module name: file}` of every module of `package` under `root` (`pkg.sub` for `pkg/sub/__init__.py`)."""
    modules = {}
    for folder, _, files in os.walk(os.path.join(root, package)):
        for name in files:
            if not name.endswith(".py"):
                continue
            relative = os.path.relpath(os.path.join(folder, name), root)[: -len(".py")].split(os.sep)
            if relative[-1] == "__init__":
                relative = relative[:-1]
            modules[".".join(relative)] = os.path.join(folder, name)
    return modules


def _with_parents(name, modules, importer):
    """`name` and the packages above it, as modules of the package; not `importer`'s own packages, which
    Python has initialised (at least partly) before `importer` runs."""
    parts = name.split(".")
    found = [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules]
    return [m for m in found if not importer.startswith(m + ".")]


def import_graph(root, package=PACKAGE):
    """`{module: {modules it imports}}`, within `package`."""
    modules = package_modules(root, package)
    graph = {}
    for module, path in modules.items():
        is_package = path.endswith("__init__.py")
        edges = set()
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            targets = []
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_LAZY" for t in node.targets):
                # A package's `_LAZY = {name: "module"}` map, imported on first attribute access.
                targets = [v.value for v in getattr(node.value, "values", []) if isinstance(v, ast.Constant)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolved against this module's package
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                targets = [origin] + [f"{origin}.{alias.name}" for alias in node.names]
            for target in targets:
                if target.split(".")[0] == package:
                    edges.update(_with_parents(target, modules, module))
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycles(graph):
    """The import cycles of `graph`: each strongly connected component of more than one module, as a path
    that closes on itself (Tarjan's algorithm)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_path(graph, component) for component in components]


def _cycle_path(graph, component):
    """One closed path through a strongly connected component, e.g. `a -> b -> a`."""
    members, start = set(component), component[0]
    path, seen = [start], {start}
    while True:
        following = sorted(graph[path[-1]] & members)
        closing = [m for m in following if m == start]
        if closing and len(path) > 1:
            return path + [start]
        unvisited = [m for m in following if m not in seen]
        if not unvisited:
            return path + [following[0]]
        path.append(unvisited[0])
        seen.add(unvisited[0])


def test_the_package_has_no_import_cycle():
    cycles = find_cycles(import_graph(ROOT))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def subpackage_graph(graph, package=PACKAGE):
    """`graph` with each module collapsed to its sub-package (`pkg.models.simclr` -> `pkg.models`; a top-level
    module such as `pkg.zoo` stays itself), without self-edges: a cycle here is a pair of sub-packages that
    each import the other, which the module graph cannot see when the modules involved differ."""

    def unit(module):
        return ".".join(module.split(".")[:2])

    collapsed = {}
    for module, edges in graph.items():
        if module == package:
            continue
        collapsed.setdefault(unit(module), set()).update(unit(e) for e in edges if e != package)
    for node, edges in collapsed.items():
        edges.discard(node)
    return collapsed


def _reachable(graph, start):
    seen, todo = {start}, [start]
    while todo:
        for other in graph.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def test_the_sub_packages_have_no_import_cycle():
    graph = import_graph(ROOT)
    collapsed = subpackage_graph(graph)
    cycles = find_cycles(collapsed)
    # Every edge inside each cycle's component, with the modules that make it: what to move.
    edges = []
    for cycle in cycles:
        members = _reachable(collapsed, cycle[0]) & {n for n in collapsed if cycle[0] in _reachable(collapsed, n)}
        for here in sorted(members):
            for there in sorted(collapsed[here] & members):
                by = sorted(
                    m for m, e in graph.items() if m.startswith(here + ".") and any(x.startswith(there) for x in e)
                )
                edges.append(f"{here} -> {there} ({', '.join(by)})")
    assert not cycles, (
        "import cycles between sub-packages: "
        + "; ".join(" -> ".join(cycle) for cycle in cycles)
        + ". Edges within them: "
        + "; ".join(edges)
    )


def test_no_library_module_imports_the_command_line():
    importers = sorted(m for m, edges in import_graph(ROOT).items() if f"{PACKAGE}.cli" in edges)
    assert not importers, f"library modules importing {PACKAGE}.cli (call the run layer instead): {importers}"


def test_the_run_layer_sits_above_the_building_blocks():
    graph = import_graph(ROOT)
    blocks = ("models", "losses", "layers", "augment", "backbones", "data", "evaluation", "export", "text")
    for module, edges in graph.items():
        if module.split(".")[1:2] and module.split(".")[1] in blocks:
            upward = sorted(e for e in edges if e.startswith(f"{PACKAGE}.runs") or e == f"{PACKAGE}.zoo")
            assert not upward, f"{module} (a building block) imports the run layer or the zoo: {upward}"


def test_each_task_is_independent_of_the_others():
    graph = import_graph(ROOT)
    tasks = {f"{PACKAGE}.runs.{name}" for name in ("image_task", "text_task", "image_text_task")}
    for task in tasks:
        assert not graph[task] & (tasks - {task}), f"{task} imports another task: {sorted(graph[task] & tasks)}"


def _write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def f():\n    from pkg.c import g\n",
            "pkg/c.py": "import pkg.a\n\ndef g():\n    pass\n",
            "pkg/d.py": "from pkg import a\n",
        },
    )
    graph = import_graph(str(tmp_path), "pkg")
    assert graph["pkg.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_relative_imports_and_packages_are_edges(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from .sub import thing\n",
            "pkg/sub/__init__.py": "from . import leaf\nthing = 1\n",
            "pkg/sub/leaf.py": "from ..other import x\n",
            "pkg/other.py": "from pkg.sub import leaf\n",
        },
    )
    graph = import_graph(str(tmp_path), "pkg")
    assert graph["pkg"] == {"pkg.sub"}
    assert graph["pkg.sub"] == {"pkg.sub.leaf"}
    assert graph["pkg.sub.leaf"] == {"pkg.other"}
    # pkg.other -> pkg.sub (its __init__ runs first) -> pkg.sub.leaf -> pkg.other
    assert graph["pkg.other"] == {"pkg.sub", "pkg.sub.leaf"}
    assert find_cycles(graph) == [["pkg.other", "pkg.sub", "pkg.sub.leaf", "pkg.other"]]


def test_a_cycle_between_sub_packages_is_found_though_the_modules_have_none(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/models/__init__.py": "",
            "pkg/models/simclr.py": "from pkg.text import encoder\n",
            "pkg/text/__init__.py": "",
            "pkg/text/encoder.py": "",
            "pkg/text/mining.py": "def f():\n    from pkg.models import simclr\n",
            "pkg/lazy/__init__.py": '_LAZY = {"f": "pkg.zoo"}\n',
            "pkg/zoo.py": "from pkg.models import simclr\n",
        },
    )
    graph = import_graph(str(tmp_path), "pkg")
    assert find_cycles(graph) == []
    collapsed = subpackage_graph(graph, "pkg")
    assert collapsed == {
        "pkg.lazy": {"pkg.zoo"},
        "pkg.models": {"pkg.text"},
        "pkg.text": {"pkg.models"},
        "pkg.zoo": {"pkg.models"},
    }
    assert find_cycles(collapsed) == [["pkg.models", "pkg.text", "pkg.models"]]
