"""Two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy train
the same SimCLR step as one process on the global batch."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np, tensorflow as tf, keras
from keras_contrastive.backbones import ConvNet
from keras_contrastive.models import SimCLR

out = sys.argv[1]
strategy = tf.distribute.MultiWorkerMirroredStrategy() if "TF_CONFIG" in os.environ else tf.distribute.get_strategy()
rng = np.random.default_rng(0)
batch = {"views": (rng.random((16, 16, 16, 1), dtype=np.float32), rng.random((16, 16, 16, 1), dtype=np.float32))}
with strategy.scope():
    keras.utils.set_random_seed(1)
    model = SimCLR(ConvNet(input_shape=(16, 16, 1), width=4, stages=2, synchronized_bn=True),
                   projection_dim=8, synchronized_bn=True)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
initial = [w.copy() for w in model.get_weights()]
dataset = tf.data.Dataset.from_tensor_slices(batch).batch(16).repeat()
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
dataset = dataset.with_options(options)
model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)
np.savez(out, *model.get_weights(), initial=np.concatenate([w.ravel() for w in initial]))
"""


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _weights(path):
    data = np.load(path)
    return [data[f"arr_{i}"] for i in range(len(data.files) - 1)], data["initial"]


@pytest.mark.slow  # several TensorFlow processes
def test_two_worker_processes_equal_one_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    single = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path / "single.npz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert single.returncode == 0, single.stderr[-3000:]

    _run_workers(lambda index: ["-c", WORKER, str(tmp_path / f"worker{index}.npz")], None, env, timeout=150)

    reference, initial = _weights(tmp_path / "single.npz")
    moved = max(float(np.max(np.abs(np.concatenate([w.ravel() for w in reference]) - initial))), 0.0)
    assert moved > 1e-3, "two steps moved no weight: the comparison would be vacuous"
    for index in range(2):
        weights, worker_initial = _weights(tmp_path / f"worker{index}.npz")
        np.testing.assert_array_equal(worker_initial, initial)
        difference = max(float(np.max(np.abs(a - b))) for a, b in zip(weights, reference))
        assert difference <= 1e-5, f"worker {index} differs from one process by {difference}"


def _run_workers(argv_for, cwd, env, timeout=240):
    """Starts 2 worker processes (`python *argv_for(index)`) as a TF_CONFIG
    cluster on 127.0.0.1, waits for both, and always cleans them up."""
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    try:
        for index in range(2):
            config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            procs.append(
                subprocess.Popen(
                    [sys.executable, *argv_for(index)],
                    cwd=cwd,
                    env={**env, "TF_CONFIG": json.dumps(config)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    return outputs


# TensorFlow's start-up lines at TF_CPP_MIN_LOG_LEVEL=2 (the command line hides them when the user sets no
# level; this test sets 2 to see the errors that come after).
START_UP = ("failed call to cuInit", "oneDNN supports DT_INT64 only on platforms with AVX-512")


def _error_lines(stderr):
    """The ERROR / E0000 lines of a worker's stderr, TensorFlow's start-up lines aside."""
    lines = [line for line in stderr.splitlines() if line.startswith("E0000") or "ERROR" in line]
    return [line for line in lines if not any(s in line for s in START_UP)]


@pytest.mark.slow  # several TensorFlow processes
def test_cli_multi_worker_training_only_the_chief_writes_and_every_worker_resumes(tmp_path):
    # TF_CPP_MIN_LOG_LEVEL=2: errors of TensorFlow's C++ side are printed, so a coordination error at the end
    # (a worker outliving the other by the heartbeat timeout) would be seen.
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"} | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run = tmp_path / "run"
    fast = ["train.steps_per_epoch=2", "train.batch_size=32", "evaluate.baselines=false", "encoder.width=8"]

    def args(epochs):
        sets = [x for item in [f"train.epochs={epochs}", *fast] for x in ("--set", item)]
        return [
            "-m",
            "keras_contrastive.cli",
            "train",
            "recipes/quickstart.yaml",
            "--output",
            str(run),
            "--strategy",
            "multi-worker",
            "--verbose",
            "0",
            *sets,
        ]

    outputs = _run_workers(lambda index: args(1), root, env)
    for _, err in outputs:  # the workers end together: neither health check finds the other gone
        assert not _error_lines(err), err[-3000:]
    chief = json.loads((run / "metrics.json").read_text())
    assert chief["epochs"] == 1 and 0.1 < chief["linear_probe_top1"] <= 1.0
    assert (run / "model.keras").exists() and (run / "backup").is_dir()
    other = run / ".worker-1"
    assert (other / "backup").is_dir() and not (other / "model.keras").exists()
    assert json.loads((other / "progress.json").read_text())["epochs_done"] == 1

    # Both workers resume from their own backups: the same run, now 2 epochs,
    # trains only the second epoch on each worker.
    for recipe in (run / "recipe.yaml", other / "recipe.yaml"):
        recipe.unlink()
    outputs = _run_workers(lambda index: args(2), root, env)
    assert not _error_lines(outputs[0][1]), outputs[0][1][-3000:]
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2
    assert json.loads((other / "progress.json").read_text())["epochs_done"] == 2
    for history in (run / "history.csv", other / "history.csv"):
        epochs = [line.split(",")[0] for line in history.read_text().strip().splitlines()[1:]]
        assert epochs == ["0", "1"], f"{history}: an epoch was redone or lost: {epochs}"


FOLDER_WORKER = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf
from keras_contrastive import recipes
from keras_contrastive.runs import ImageTask

folder, out = sys.argv[1], sys.argv[2]
strategy = tf.distribute.MultiWorkerMirroredStrategy()
recipe = recipes.validate({"data": {"source": f"folder:{folder}", "image_size": [8, 8]}, "train": {"batch_size": 8}})
task = ImageTask(recipe, work_dir=os.path.join(os.path.dirname(out), f"work-{os.getpid()}"))
task.load_data()

class Model:  # what training_dataset reads of the model
    distribute_strategy = strategy

dataset = task.training_dataset(Model())
iterator = iter(dataset)
seen = []
for _ in range(task.data.train.num_examples // 8):  # one epoch of global batches
    element = next(iterator)
    seen += [int(v) for part in strategy.experimental_local_results(element["label"]) for v in part.numpy()]
with open(out, "w") as f:
    json.dump({"labels": seen, "sharding": task.sharding}, f)
"""


@pytest.mark.slow  # several TensorFlow processes
def test_two_workers_read_every_file_of_a_folder_once_per_epoch_by_file(tmp_path):
    from PIL import Image

    # 24 one-image classes under train/ (and a test/): an image's label is its identity.
    for split in ("train", "test"):
        for i in range(24):
            (tmp_path / "images" / split / f"{i:02d}").mkdir(parents=True)
            Image.new("L", (8, 8), 10 * i).save(tmp_path / "images" / split / f"{i:02d}" / "0.png")
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    outs = [tmp_path / f"worker{i}.json" for i in range(2)]
    outputs = _run_workers(
        lambda index: ["-c", FOLDER_WORKER, str(tmp_path / "images"), str(outs[index])], None, env, timeout=150
    )
    for _, err in outputs:
        assert "auto-shard" not in err.lower() and "AutoShardPolicy" not in err, err[-3000:]
    results = [json.loads(out.read_text()) for out in outs]
    assert all(r["sharding"] == "file" for r in results)
    first, second = (r["labels"] for r in results)
    assert len(first) == len(second) == 12, "each worker reads half of the global batches"
    assert not set(first) & set(second), "a file was read by both workers"
    assert sorted(first + second) == list(range(24)), "every file once per epoch"


def test_error_lines_finds_the_coordination_error_of_an_unclean_end():
    # The chief's line when worker 1 ended more than the heartbeat timeout before it (TensorFlow 2.21).
    stderr = "\n".join(
        [
            "E0000 00:00:1796672440.596868   12373 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
            "E0000 00:00:1796672442.716894   12373 util.cc:131] oneDNN supports DT_INT64 only on platforms with "
            "AVX-512. Falling back to the default Eigen-based implementation if present.",
            "E0000 00:00:1796672461.618745   12390 base_collective_executor.cc:252] BaseCollectiveExecutor::StartAbort "
            "UNAVAILABLE: Error reported from /job:worker/task:1: The following tasks are unhealthy (stopped sending "
            "heartbeats):",
        ]
    )
    assert len(_error_lines(stderr)) == 1 and "unhealthy" in _error_lines(stderr)[0]
    assert _error_lines(stderr.rsplit("\n", 1)[0]) == []
