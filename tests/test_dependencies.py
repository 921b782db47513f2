"""Every third-party module the package, its tests and its benchmarks import is declared in setup.py, and
every package setup.py pins is used: what a fresh machine's CI would otherwise find the hard way."""

import ast
import importlib.metadata
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCANNED = ("keras_contrastive", "tests", "benchmarks", "scripts")
# benchmarks/peer/ runs PyTorch + lightly in a virtualenv of its own (benchmarks/peer/README.md).
EXCLUDED = (os.path.join("benchmarks", "peer"), os.path.join("benchmarks", ".venvs"))  # .venvs: the peers (git-ignored)
# Declared but never imported, each for a reason.
USED_WITHOUT_IMPORT = {
    "tensorboard": "keras.callbacks.TensorBoard writes its logs with it; tensorflow no longer pulls it",
    "safetensors": "keras-hub reads Hugging Face preset folders (all-MiniLM-L6-v2) with it",
    "ruff": "the linter run before every commit",
    "tensorflow-serving-api": "tests/export/test_serving_contract.py builds PredictRequests with it in a fresh "
    "process (the import is in the child's script)",
}


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_requirements(setup_path=os.path.join(ROOT, "setup.py")):
    """`{distribution name: requirement string}` of `install_requires` and every extra of setup.py."""
    tree = ast.parse(open(setup_path, encoding="utf-8").read())
    call = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "setup"
    )
    keywords = {k.arg: k.value for k in call.keywords}
    requirements = list(ast.literal_eval(keywords["install_requires"]))
    for extra in ast.literal_eval(keywords.get("extras_require", ast.Dict([], []))).values():
        requirements += extra
    return {_normalise(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]): r for r in requirements}


def imported_modules(root=ROOT, folders=SCANNED):
    """`{top-level module: first file importing it}` of every `import` under `folders` (module level and
    inside functions alike), without the standard library and the project's own modules."""
    local = {"keras_contrastive", "tests", "benchmarks", "conftest"}
    files = []
    for top in folders:
        for folder, _, names in os.walk(os.path.join(root, top)):
            if any(os.path.join(root, part) in folder for part in EXCLUDED):
                continue
            local |= {n[:-3] for n in names if n.endswith(".py")}
            files += [os.path.join(folder, n) for n in names if n.endswith(".py")]
    found = {}
    for path in sorted(files):
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, os.path.relpath(path, root))
    return found


def test_every_imported_module_is_declared_in_setup_py():
    declared = set(declared_requirements())
    providers = importlib.metadata.packages_distributions()
    undeclared = []
    for module, where in sorted(imported_modules().items()):
        distributions = {_normalise(d) for d in providers.get(module, [])}
        if not distributions & declared:
            installed = f"installed from {sorted(distributions)}" if distributions else "not installed"
            undeclared.append(f"{module} (imported in {where}; {installed})")
    assert not undeclared, "Declare these in setup.py (install_requires or an extra): " + "; ".join(undeclared)


def test_every_declared_package_is_imported_or_has_a_reason():
    providers = importlib.metadata.packages_distributions()
    imported_by = {}
    for module in imported_modules():
        for distribution in providers.get(module, []):
            imported_by[_normalise(distribution)] = module
    unused = sorted(
        name for name in declared_requirements() if name not in imported_by and name not in USED_WITHOUT_IMPORT
    )
    assert not unused, (
        f"setup.py pins packages nothing imports: {unused}. Remove them, or say why in USED_WITHOUT_IMPORT."
    )


def test_the_check_fails_on_an_undeclared_import(tmp_path):
    (tmp_path / "keras_contrastive").mkdir()
    (tmp_path / "keras_contrastive" / "uses_it.py").write_text("def f():\n    import sklearn.linear_model\n")
    (tmp_path / "setup.py").write_text('setup(install_requires=["numpy"], extras_require={"x": ["pyyaml"]})\n')
    assert imported_modules(str(tmp_path), ("keras_contrastive",)) == {"sklearn": "keras_contrastive/uses_it.py"}
    assert set(declared_requirements(str(tmp_path / "setup.py"))) == {"numpy", "pyyaml"}


@pytest.mark.parametrize("gone", ["keras-cv", "importlib-resources"])
def test_unused_pins_are_gone(gone):
    assert gone not in declared_requirements()
