"""The one way a benchmark reports: its result printed and written as JSON, with the command that made it."""

import importlib.metadata
import json
import os
import sys

from keras_contrastive.hardware import cpu_info

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peer_python(name="lightly"):
    """The Python of a peer's virtualenv made by `bash benchmarks/peer/make_venvs.sh NAME` (lightly, st or
    onnx): `benchmarks/.venvs/NAME/bin/python` in this clone, the `--peer-python` default."""
    return os.path.join(REPO, "benchmarks", ".venvs", name, "bin", "python")


def check_peer_python(path):
    """Stops with a message naming the fix when the peer's Python is missing."""
    if not os.path.exists(path):
        sys.exit(
            f"The peer's Python {path} does not exist. Make its virtualenv with "
            "`bash benchmarks/peer/make_venvs.sh lightly`, or pass --peer-python PATH."
        )


def save_figure(draw, path, *args):
    """`draw(*args, path)` when matplotlib is installed; otherwise one line saying the figure was skipped."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f'figure {path} skipped: matplotlib is not installed (pip install "keras-contrastive[plots]")')
        return False
    draw(*args, path)
    return True


def command_line(argv=None):
    """The benchmark's command as typed: `python SCRIPT ARGS` (`argv` = the arguments given to `main`)."""
    return "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])


RUN_KEYS = ("train_seconds", "epochs", "steps_per_epoch", "batch_size", "final_loss")


def run_fields(metrics, recipe, overrides, run_dir, argv=None):
    """What every training benchmark records of its run: `RUN_KEYS` of the run's metrics
    (`runs.core.run_summary`), the recipe, its overrides, the run directory and the command."""
    fields = {key: metrics.get(key) for key in RUN_KEYS}
    fields.update({"recipe": recipe, "overrides": overrides, "run_dir": run_dir, "command": command_line(argv)})
    return fields


def machine():
    """Where a figure was measured: the CPU's model, class and flags (`hardware.cpu_info`), its core count,
    and the TensorFlow and Keras versions. Figures are only compared within one CPU class."""
    versions = {}
    for package in ("tensorflow", "keras"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"cpu": cpu_info(), **versions}


def write_result(result, path):
    """Prints `result` and writes it as JSON to `path` (its folder created if missing), with `machine()`
    under `"machine"`."""
    result = {**result, "machine": machine()}
    print(json.dumps(result, indent=2))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
