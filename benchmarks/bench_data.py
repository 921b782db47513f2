"""Streaming from disk: memory flat in data size, input throughput against the peer, a step never starved.

It writes folders of generated JPEGs of photo sizes (each side 200-500 px, smooth colour fields, shapes and
grain, quality 90, 100 class folders), the small one hard links to the first images of the large one, and
measures, on this machine, each in fresh subprocesses:

- **memory**: the peak RSS (`wait4`'s `ru_maxrss`) of a SimCLR run (`runs.train`, ConvNet, 64 px, batch 64,
  `--rss-steps` steps) on `--small` and on `--large` images; the process ends when `fit` ends, before the
  evaluation (which keeps one feature vector per image by design). `rss_ratio` = large / small.
- **input throughput**: source images/s of decode + crop + two SimCLR views (SimCLR's ImageNet views:
  crop 8-100 %, flip, colour jitter 1.0 at 0.8, grayscale 0.2, blur 0.5) at 96 and 224 px, batches of 64:
  ours (`data.pretrain_stream` on `folder:`) against torchvision `ImageFolder` + lightly `SimCLRTransform`
  + `DataLoader(num_workers=2)` (`peer/lightly_imagefolder.py`, the peer's virtualenv) on the same folder,
  alternating within each round (the order reversed every other round), medians over `--rounds`.
- **a step never starved**: ResNet-18 SimCLR (the package's `resnet18`, small-image stem as in its other
  benchmarks) at 96 px, batch `--step-batch`: steps/s fed from the JPEG folder (`e2e`) against the same
  step fed one batch held in memory (`compute`), alternating, medians; `e2e_over_compute_96`. Each
  measurement times `--steps` steps after `--step-warmup` untimed ones: in its first steps the pipeline
  fills its prefetch buffers and takes the 2 cores from the step, a one-off cost the steady state has not. The same with
  ImageNet's stem (7x7 stride 2 + max-pool, 16x fewer FLOPs, so the input pipeline's share is larger) is
  reported beside it (`e2e_over_compute_96_imagenet_stem`).

    python benchmarks/bench_data.py [--root TMPDIR/keras-contrastive-bench-data] [--small 5000] [--large 50000] \
        [--rounds 3] [--generate-only] [--out benchmarks/results/bench_data.json] \
        [--plot benchmarks/results/bench_data.png]
"""

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _results import check_peer_python, command_line, peer_python, save_figure, write_result  # noqa: E402

CLASSES = 100


# --- the folders ---------------------------------------------------------------------------------------------
def _image(index, seed=0):
    """A photo-like RGB image: its own size (each side 200-500 px), a smooth colour field, a few ellipses, grain."""
    rng = np.random.default_rng([seed, index])
    h, w = (int(v) for v in rng.integers(200, 501, 2))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.empty((h, w, 3), np.float32)
    for c in range(3):
        a, b, p = rng.uniform(0.5, 4, 2), rng.uniform(-1, 1, 2), rng.uniform(0, 6)
        image[..., c] = 128 + 90 * np.sin(a[0] * x / w * b[0] * 3 + a[1] * y / h * b[1] * 3 + p)
    for _ in range(int(rng.integers(2, 6))):
        cy, cx, ry, rx = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(10, h / 3), rng.uniform(10, w / 3)
        inside = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1
        image[inside] = rng.uniform(0, 255, 3)
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def _path(root, index):
    return os.path.join(root, f"class{index % CLASSES:03d}", f"{index:06d}.jpg")


def _write_images(job):
    from PIL import Image

    root, indices = job
    for index in indices:
        path = _path(root, index)
        if not os.path.exists(path):
            tmp = path + ".tmp"
            Image.fromarray(_image(index)).save(tmp, "JPEG", quality=90)
            os.replace(tmp, path)
    return len(indices)


def generate(root, count, workers=2):
    """`count` JPEGs under `root/classNNN/` (kept from an earlier run: only missing ones are written)."""
    for c in range(CLASSES):
        os.makedirs(os.path.join(root, f"class{c:03d}"), exist_ok=True)
    missing = [i for i in range(count) if not os.path.exists(_path(root, i))]
    if missing:
        chunks = [(root, part.tolist()) for part in np.array_split(np.array(missing), max(1, len(missing) // 500))]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.map(_write_images, chunks)
    return root


def link_subset(large, small, count):
    """`small` holds hard links to the first `count` images of `large` (no more disk)."""
    for index in range(count):
        target = _path(small, index)
        if not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.link(_path(large, index), target)
    return small


def folder_bytes(root):
    return sum(e.stat().st_size for d in os.scandir(root) if d.is_dir() for e in os.scandir(d.path))


# --- measurements (child processes) -------------------------------------------------------------------------
def _views(size, seed=0):
    from keras_contrastive.augment import SimCLRAugmentation

    # SimCLR's ImageNet views, as lightly's SimCLRTransform defaults.
    return [
        SimCLRAugmentation(size, jitter_strength=1.0, blur_probability=0.5, seed=seed + 1000 * (i + 1))
        for i in range(2)
    ]


def child_rss(args):
    import keras

    from keras_contrastive import runs

    recipe = {
        "method": {"name": "simclr", "projection_dim": 64, "projection_hidden_dim": 128, "temperature": 0.2},
        "encoder": {"name": "convnet", "width": 16, "stages": 3},
        "data": {"source": f"folder:{args.folder}", "image_size": [64, 64], "channels": 3},
        "augment": {"blur_probability": 0.5},
        "train": {"epochs": 1, "batch_size": 64, "steps_per_epoch": args.steps, "online_probe": False},
    }

    class StopAfterFit(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            print(json.dumps({"steps": args.steps}), flush=True)
            os._exit(0)  # the peak RSS of listing + training; evaluation keeps features by design

    with tempfile.TemporaryDirectory() as run:
        runs.train(recipe, run, verbose=0, callbacks=[StopAfterFit()])


def child_ours(args):
    from keras_contrastive import data

    source = data.open_image_source(f"folder:{args.folder}", image_size=(args.size, args.size), channels=3)
    ds = data.pretrain_stream(source.train, _views(args.size), args.batch_size, 3, seed=0)
    batches = iter(ds)
    for _ in range(args.warmup):
        next(batches)
    start = time.perf_counter()
    for _ in range(args.batches):
        views = next(batches)["views"]
    seconds = time.perf_counter() - start
    assert views[0].shape[1] == args.size
    print(json.dumps({"images_per_s": args.batches * args.batch_size / seconds, "seconds": seconds}))


def child_step(args):
    import keras
    import tensorflow as tf

    from keras_contrastive import data
    from keras_contrastive.backbones import build_backbone
    from keras_contrastive.models import SimCLR

    keras.utils.set_random_seed(0)
    size = args.size
    encoder = build_backbone("resnet18", (size, size, 3), small_images=args.stem == "small")
    model = SimCLR(encoder, projection_dim=128, projection_hidden_dim=512, temperature=0.2)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    source = data.open_image_source(f"folder:{args.folder}", image_size=(size, size), channels=3)
    stream = data.pretrain_stream(source.train, _views(size), args.batch_size, 3, seed=0)
    if args.mode == "compute":  # one batch of the same views, held in memory
        stream = tf.data.Dataset.from_tensors(next(iter(stream))).repeat()
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter())

    model.fit(stream, epochs=1, steps_per_epoch=args.warmup + args.batches, verbose=0, callbacks=[Clock()])
    seconds = times[-1] - times[args.warmup - 1]
    rate = args.batches * args.batch_size / seconds
    print(json.dumps({"images_per_s": rate, "step_seconds": seconds / args.batches}))


# --- the parent ---------------------------------------------------------------------------------------------
def run(command, env=None):
    """Runs `command`; returns (its last JSON line, its peak RSS in MiB from wait4)."""
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        errors.seek(0)
        err = errors.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{err[-3000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]), usage.ru_maxrss / 1024.0


def ours(*args):
    return [sys.executable, os.path.abspath(__file__), "--child", *args]


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    cpu = result["machine"]["cpu"]
    fig.suptitle(f"Streaming from a JPEG folder, {cpu.get('model', '?')} ({cpu.get('class', '?')}), 2 cores")
    ax = axes[0]
    ax.bar([f"{result['small']:,} images", f"{result['large']:,} images"],
           [result["rss_mib_small"], result["rss_mib_large"]], color=["#4c72b0", "#55a868"])  # fmt: skip
    ax.set_ylabel("peak RSS of a SimCLR run (MiB)")
    ax.set_title(f"memory: ratio {result['rss_ratio']:.3f} (bar <= 1.05)")
    ax = axes[1]
    x = np.arange(2)
    ax.bar(x - 0.2, [result["ours_images_per_s_96"], result["ours_images_per_s_224"]], 0.4, label="ours (tf.data)")
    ax.bar(x + 0.2, [result["peer_images_per_s_96"], result["peer_images_per_s_224"]], 0.4,
           label="ImageFolder + lightly, 2 workers")  # fmt: skip
    ax.set_xticks(x, ["96 px", "224 px"])
    ax.set_ylabel("source images / s (2 views each)")
    ax.set_title(f"input: {result['ratio_96']:.2f}x at 96, {result['ratio_224']:.2f}x at 224 (bar >= 1.5x)")
    ax.legend(loc="upper right")
    ax = axes[2]
    ax.bar(["in memory", "from the folder"], [result["compute_images_per_s_96"], result["e2e_images_per_s_96"]],
           color=["#8172b2", "#c44e52"])  # fmt: skip
    ax.set_ylabel("ResNet-18 SimCLR, 96 px: images / s")
    ax.set_title(f"step: e2e / compute {result['e2e_over_compute_96']:.3f} (bar >= 0.95)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root",
        default=os.path.join(tempfile.gettempdir(), "keras-contrastive-bench-data"),
        help="where the generated JPEG folders are written once and reused (default: in the temporary folder)",
    )
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rss-steps", type=int, default=60)
    parser.add_argument("--batches", type=int, default=15, help="timed batches of 64 per throughput measurement")
    parser.add_argument("--step-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=15, help="timed steps per e2e / compute measurement")
    parser.add_argument(
        "--step-warmup", type=int, default=5, help="untimed steps first: the pipeline fills its buffers in them"
    )
    parser.add_argument(
        "--peer-python", default=peer_python(), help="the lightly virtualenv's Python (benchmarks/peer/make_venvs.sh)"
    )
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "bench_data.json"))
    parser.add_argument("--plot", default=os.path.join(HERE, "results", "bench_data.png"))
    parser.add_argument("--child", choices=("rss", "ours", "step"))
    parser.add_argument("--folder")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--mode", choices=("e2e", "compute"), default="e2e")
    parser.add_argument("--stem", choices=("small", "imagenet"), default="small")
    parser.add_argument("--steps-child", dest="steps_child", type=int)
    args = parser.parse_args(argv)
    if args.child:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if args.child == "rss":
            args.steps = args.steps_child
        {"rss": child_rss, "ours": child_ours, "step": child_step}[args.child](args)
        return

    started = time.time()
    if not args.generate_only:
        check_peer_python(args.peer_python)  # before the folders are written, not after the memory part
    large = generate(os.path.join(args.root, f"jpeg{args.large}"), args.large)
    small = link_subset(large, os.path.join(args.root, f"jpeg{args.small}"), args.small)
    print(f"folders ready in {time.time() - started:.0f} s: {large}, {small}", flush=True)
    if args.generate_only:
        return
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    partial = {"small": args.small, "large": args.large, "command": command_line(argv), "partial": True}

    def save_partial(**figures):  # what is measured so far, should a later part not finish
        partial.update(figures)
        with open(args.out + ".partial", "w", encoding="utf-8") as f:
            json.dump(partial, f, indent=2)

    # Memory flat in data size.
    rss = {}
    for name, folder in (("small", small), ("large", large)):
        _, rss[name] = run(ours("rss", "--folder", folder, "--steps-child", str(args.rss_steps)), env)
        print(f"rss {name}: {rss[name]:.0f} MiB", flush=True)
    save_partial(rss=rss)

    # Input throughput, ours against the peer, alternating.
    rates = {(side, size): [] for side in ("ours", "peer") for size in (96, 224)}
    for r in range(args.rounds):
        for size in (96, 224):
            common = ["--folder", small, "--size", str(size), "--batch-size", "64", "--batches", str(args.batches)]
            commands = {
                "ours": ours("ours", *common),
                "peer": [args.peer_python, os.path.join(HERE, "peer", "lightly_imagefolder.py"), *common],
            }
            for side in ("ours", "peer") if r % 2 == 0 else ("peer", "ours"):
                out, _ = run(commands[side], env)
                rates[(side, size)].append(out["images_per_s"])
                print(f"round {r + 1} {size} px {side}: {out['images_per_s']:.1f} images/s", flush=True)
        save_partial(rates={f"{side}_{size}": v for (side, size), v in rates.items()})

    # The step fed from the folder against the step fed from memory, alternating.
    steps = {(stem, mode): [] for stem in ("small", "imagenet") for mode in ("e2e", "compute")}
    for r in range(args.rounds):
        for stem in ("small", "imagenet"):
            for mode in ("e2e", "compute") if r % 2 == 0 else ("compute", "e2e"):
                batches = args.steps if stem == "small" else 4 * args.steps
                command = ours("step", "--folder", small, "--size", "96", "--batch-size", str(args.step_batch),
                               "--batches", str(batches), "--warmup", str(args.step_warmup),
                               "--mode", mode, "--stem", stem)  # fmt: skip
                out, _ = run(command, env)
                steps[(stem, mode)].append(out["images_per_s"])
                print(f"round {r + 1} resnet18 ({stem} stem) {mode}: {out['images_per_s']:.2f} images/s", flush=True)
        save_partial(steps={f"{stem}_{mode}": v for (stem, mode), v in steps.items()})

    median = statistics.median
    result = {
        "small": args.small,
        "large": args.large,
        "folder_bytes_large": folder_bytes(large),
        "rss_mib_small": rss["small"],
        "rss_mib_large": rss["large"],
        "rss_ratio": rss["large"] / rss["small"],
        "rss_steps": args.rss_steps,
    }
    for size in (96, 224):
        result[f"ours_images_per_s_{size}"] = median(rates[("ours", size)])
        result[f"peer_images_per_s_{size}"] = median(rates[("peer", size)])
        result[f"ratio_{size}"] = result[f"ours_images_per_s_{size}"] / result[f"peer_images_per_s_{size}"]
        result[f"rounds_{size}"] = {"ours": rates[("ours", size)], "peer": rates[("peer", size)]}
    for stem, suffix in (("small", ""), ("imagenet", "_imagenet_stem")):
        e2e, compute = median(steps[(stem, "e2e")]), median(steps[(stem, "compute")])
        result[f"e2e_images_per_s_96{suffix}"] = e2e
        result[f"compute_images_per_s_96{suffix}"] = compute
        result[f"e2e_over_compute_96{suffix}"] = e2e / compute
        result[f"rounds_step_96{suffix}"] = {"e2e": steps[(stem, "e2e")], "compute": steps[(stem, "compute")]}
    result["step_warmup"], result["step_timed_steps"] = args.step_warmup, args.steps
    result.update(
        {
            "bars": {
                "rss_ratio <= 1.05": result["rss_ratio"] <= 1.05,
                "ratio_224 >= 1.5": result["ratio_224"] >= 1.5,
                "e2e_over_compute_96 >= 0.95": result["e2e_over_compute_96"] >= 0.95,
            },
            "step_batch": args.step_batch,
            "rounds": args.rounds,
            "seconds": round(time.time() - started),
            "command": command_line(argv),
        }
    )
    write_result(result, args.out)
    if os.path.exists(args.out + ".partial"):
        os.remove(args.out + ".partial")
    with open(args.out, encoding="utf-8") as f:
        drawn = save_figure(plot, args.plot, json.load(f))
    print(f"wrote {args.out}" + (f" and {args.plot}" if drawn else ""))


if __name__ == "__main__":
    main()
