import argparse
import json
import os
import re
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


# TensorFlow's C++ log lines (absl's format: severity, month and day, time) and its other start-up notes.
TF_START_UP = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog|rebuild TensorFlow with the appropriate", re.M
)


def _cli(*args, timeout=600, env=None):
    return subprocess.run(
        [sys.executable, "-m", "keras_contrastive.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _env(tf_log_level):
    """This process's environment with TF_CPP_MIN_LOG_LEVEL as a user would have it (`None`: not set)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # conftest sets it
    return env if tf_log_level is None else {**env, "TF_CPP_MIN_LOG_LEVEL": tf_log_level}


def test_train_evaluate_export_from_the_command_line(tmp_path, capsys):
    run = tmp_path / "run"
    out = _cli("train", "recipes/quickstart.yaml", *FAST, "--output", str(run), "--verbose", "0", env=_env(None))
    assert out.returncode == 0, out.stderr[-2000:]
    # A fresh process, TF_CPP_MIN_LOG_LEVEL unset: none of TensorFlow's C++ start-up lines.
    assert not TF_START_UP.search(out.stderr), out.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["linear_probe_top1"] <= 1.0 and metrics["epochs"] == 1
    assert "--set train.epochs=1" in (run / "command.txt").read_text()

    knn_args = ["evaluate", "knn", "--run", str(run), "--k", "20", "--out", str(tmp_path / "knn.json")]
    out = _cli(*knn_args, env=_env("0"))
    assert out.returncode == 0, out.stderr[-2000:]
    # The user's own setting is kept: at 0, TensorFlow's start-up lines are there.
    assert TF_START_UP.search(out.stderr), out.stderr[-3000:]
    knn = json.loads((tmp_path / "knn.json").read_text())
    assert knn["k"] == 20 and 0.1 < knn["knn_top1"] <= 1.0

    target = tmp_path / "savedmodels" / "quick"
    out = _cli("export", "--run", str(run), "--to", str(target))
    assert out.returncode == 0, out.stderr[-2000:]
    assert (target / "1" / "saved_model.pb").exists()
    assert json.loads((target / "1" / "assets" / "metrics.json").read_text()) == metrics
    from keras_contrastive import cli  # the refusal, in this process

    assert cli.main(["export", "--run", str(run), "--to", str(target), "--version", "1"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    from keras_contrastive import cli

    # A fresh process: the status reaches the shell.
    out = _cli("train", "recipes/quickstart.yaml", "--set", "train.nope=1", "--output", str(tmp_path))
    assert out.returncode == 2
    assert "unknown recipe key 'train.nope'" in out.stderr
    # The same path in this process (a fresh TensorFlow each would add seconds, not checks).
    assert cli.main(["train", os.path.join(ROOT, "recipes", "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli.main(["evaluate", "linear-probe", "--run", str(tmp_path / "none")]) == 2
    assert "is not a finished run" in capsys.readouterr().err


def test_tensorflow_start_up_lines_are_hidden_only_when_the_user_did_not_choose():
    from keras_contrastive import cli

    unset = {"PATH": "/usr/bin"}
    assert cli.quiet_tensorflow(unset) == ("3", True) and unset["TF_CPP_MIN_LOG_LEVEL"] == "3"
    for chosen in ("0", "1", "2"):
        environ = {"TF_CPP_MIN_LOG_LEVEL": chosen}
        assert cli.quiet_tensorflow(environ) == (chosen, False) and environ == {"TF_CPP_MIN_LOG_LEVEL": chosen}
    # What TensorFlow 2.21 prints as its libraries load, before it reads the level; a Python warning is kept.
    printed = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796672337.722239   12070 port.cc:153] oneDNN custom operations are on.",
        "E0000 00:00:1796672351.374105   12080 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.",
    ]
    assert all(cli.TF_LOG_LINE.match(line) for line in printed)
    assert not cli.TF_LOG_LINE.match("/x/keras/src/backend.py:12: UserWarning: do not ignore this")


def _subcommands(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_the_command_line_evaluates_each_evaluation_of_the_run_layer():
    from keras_contrastive import cli, runs

    kinds = _subcommands(_subcommands(cli._parser())["evaluate"])
    assert sorted(kinds) == sorted(runs.EVALUATIONS) and runs.EVALUATIONS == tuple(runs.actions.PROTOCOLS)
    assert runs.EVALUATIONS == ("linear-probe", "knn", "few-shot", "sts", "zero-shot", "retrieval")


def test_strategy_and_precision_choices_are_the_run_layers_and_the_parser_loads_no_tensorflow():
    code = (
        "import sys\n"
        "from keras_contrastive import cli\n"
        "from keras_contrastive.run_options import PRECISION_CHOICES, STRATEGIES\n"
        "train = cli._parser()._actions[1].choices['train']\n"
        "options = {a.dest: tuple(a.choices) for a in train._actions if a.choices}\n"
        "assert options == {'strategy': STRATEGIES, 'precision': PRECISION_CHOICES}, options\n"
        "print('tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
