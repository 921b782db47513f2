import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = [
    "--set",
    "train.epochs=1",
    "--set",
    "train.steps_per_epoch=2",
    "--set",
    "train.batch_size=32",
    "--set",
    "evaluate.baselines=false",
    "--set",
    "encoder.width=8",
]


def _cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "keras_contrastive.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_train_evaluate_export_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    out = _cli("train", "recipes/quickstart.yaml", *FAST, "--output", str(run), "--verbose", "0")
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["linear_probe_top1"] <= 1.0 and metrics["epochs"] == 1
    assert "--set train.epochs=1" in (run / "command.txt").read_text()

    out = _cli("evaluate", "knn", "--run", str(run), "--k", "20", "--out", str(tmp_path / "knn.json"))
    assert out.returncode == 0, out.stderr[-2000:]
    knn = json.loads((tmp_path / "knn.json").read_text())
    assert knn["k"] == 20 and 0.1 < knn["knn_top1"] <= 1.0

    target = tmp_path / "savedmodels" / "quick"
    out = _cli("export", "--run", str(run), "--to", str(target))
    assert out.returncode == 0, out.stderr[-2000:]
    assert (target / "1" / "saved_model.pb").exists()
    assert json.loads((target / "1" / "assets" / "metrics.json").read_text()) == metrics
    out = _cli("export", "--run", str(run), "--to", str(target), "--version", "1")
    assert out.returncode == 2 and "already exists" in out.stderr


def test_bad_input_exits_2_with_a_message(tmp_path):
    out = _cli("train", "recipes/quickstart.yaml", "--set", "train.nope=1", "--output", str(tmp_path))
    assert out.returncode == 2
    assert "unknown recipe key 'train.nope'" in out.stderr
    out = _cli("train", "recipes/missing.yaml")
    assert out.returncode == 2 and "not found" in out.stderr
    out = _cli("evaluate", "linear-probe", "--run", str(tmp_path / "none"))
    assert out.returncode == 2 and "is not a finished run" in out.stderr
