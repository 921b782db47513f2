"""The one way a benchmark reports: its result printed and written as JSON, with the command that made it."""

import importlib.metadata
import json
import os
import sys

from keras_contrastive.hardware import cpu_info


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
