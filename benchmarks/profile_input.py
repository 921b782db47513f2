"""Where the 224 px input pipeline's time goes, ours and the peer's, stage by stage.

Each stage adds one step to the stage before, both sides the same steps, on the same generated JPEGs
(`bench_data.py`'s photo-like images, 200-500 px a side), batches of 64, source images/s (2 views each),
each measurement a fresh process, ours and the peer's alternating (the order reversed every other round),
medians over `--rounds`:

Stages (ours: `tf.data`, parallel map; the peer: `DataLoader(num_workers=2)`, `peer/lightly_input_stages.py`):
- `read`: the file's bytes (`tf.io.read_file`; `open(...).read()`).
- `decode`: the whole JPEG (`tf.io.decode_jpeg`, which ours never does in training; Pillow, as `ImageFolder`).
- `crop`: two views' random resized crops (scale 0.08-1) and flips. Ours crop first: the box drawn on the
  encoded shape, only the crop decoded, then resized (`streaming.crop_first`); the peer decodes, then crops.
- `jitter`: + colour jitter (strength 1, p 0.8); `grayscale`: + grayscale (p 0.2); `blur`: + Gaussian blur
  (p 0.5) — SimCLR's ImageNet views.
- `full`: ours `data.pretrain_stream` on `folder:` (listing, shuffle, the unreadable-file guard): what training
  runs; the peer + `Normalize`: lightly's `SimCLRTransform` as `lightly_imagefolder.py` times it.

The cost of a step is the difference of ms per image between its stage and the one before.

    python benchmarks/profile_input.py [--images 2000] [--rounds 2] [--size 224] \
        [--peer-python benchmarks/.venvs/lightly/bin/python] [--out benchmarks/results/profile_input.json]
"""

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _results import check_peer_python, command_line, peer_python, write_result  # noqa: E402
from bench_data import generate, run  # noqa: E402

STAGES = ("read", "decode", "crop", "jitter", "grayscale", "blur", "full")
PEER = os.path.join(HERE, "peer", "lightly_input_stages.py")


def _views(stage, size):
    from keras_contrastive.augment import SimCLRAugmentation

    step = STAGES.index(stage)
    return [
        SimCLRAugmentation(
            size,
            jitter_strength=1.0,
            jitter_probability=0.8 if step >= STAGES.index("jitter") else 0.0,
            grayscale_probability=0.2 if step >= STAGES.index("grayscale") else 0.0,
            blur_probability=0.5 if step >= STAGES.index("blur") else 0.0,
            seed=1000 * (i + 1),
        )
        for i in range(2)
    ]


def child(args):
    import tensorflow as tf

    from keras_contrastive import data
    from keras_contrastive.data import streaming

    if args.stage == "full":
        source = data.open_image_source(f"folder:{args.folder}", image_size=(args.size, args.size), channels=3)
        ds = data.pretrain_stream(source.train, _views("blur", args.size), args.batch_size, 3, seed=0)
    else:
        with open(args.listing, encoding="utf-8") as f:
            paths = [line.rstrip("\n") for line in f if line.strip()]
        records = tf.data.Dataset.from_tensor_slices(paths).shuffle(len(paths), seed=0).repeat()
        if args.stage == "read":
            ds = records.map(lambda p: tf.strings.length(tf.io.read_file(p)), num_parallel_calls=tf.data.AUTOTUNE)
        elif args.stage == "decode":
            ds = records.map(
                lambda p: tf.shape(tf.io.decode_jpeg(tf.io.read_file(p), channels=3))[0],
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        else:
            records = records.map(lambda p: (p, tf.constant(0, tf.int32), p))
            finish = args.stage != "crop"
            ds = streaming.crop_first(records, tf.io.read_file, _views(args.stage, args.size), 3, finish=finish)
            ds = ds.map(lambda crops, label, name: crops)
        ds = ds.batch(args.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    batches = iter(ds)
    for _ in range(args.warmup):
        next(batches)
    start = time.perf_counter()
    for _ in range(args.batches):
        next(batches)
    seconds = time.perf_counter() - start
    print(json.dumps({"images_per_s": args.batches * args.batch_size / seconds, "seconds": seconds}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "keras-contrastive-profile-input"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=10, help="timed batches per measurement")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--peer-python", default=peer_python(), help="the lightly virtualenv's Python")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "profile_input.json"))
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--stage", choices=STAGES)
    parser.add_argument("--folder")
    parser.add_argument("--listing")
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    check_peer_python(args.peer_python)
    folder = generate(args.root, args.images)
    listing = os.path.join(args.root, "listing.txt")
    with open(listing, "w", encoding="utf-8") as f:
        f.writelines(p + "\n" for p in sorted(glob.glob(os.path.join(folder, "*", "*.jpg"))))
    common = ["--size", str(args.size), "--batch-size", str(args.batch_size), "--batches", str(args.batches)]
    common += ["--warmup", str(args.warmup)]
    rates = {side: {stage: [] for stage in STAGES} for side in ("ours", "peer")}
    for r in range(args.rounds):
        for stage in STAGES:
            commands = {
                "ours": [sys.executable, os.path.abspath(__file__), "--child", "--stage", stage, "--folder", folder,
                         "--listing", listing, *common],
                "peer": [args.peer_python, PEER, "--stage", stage, "--listing", listing, *common],
            }  # fmt: skip
            for side in ("ours", "peer") if r % 2 == 0 else ("peer", "ours"):
                result, _ = run(commands[side])
                rates[side][stage].append(result["images_per_s"])
                print(f"round {r + 1} {stage:9s} {side}: {result['images_per_s']:.1f} images/s", flush=True)
    table = {}
    before = {"ours": 0.0, "peer": 0.0}
    for stage in STAGES:
        row = {}
        for side in ("ours", "peer"):
            rate = statistics.median(rates[side][stage])
            ms = 1000.0 / rate
            row[f"{side}_images_per_s"] = round(rate, 1)
            row[f"{side}_rounds"] = [round(v, 1) for v in rates[side][stage]]
            row[f"{side}_ms_per_image"] = round(ms, 3)
            row[f"{side}_step_ms"] = round(ms - before[side], 3)  # what this stage adds to the one before
            before[side] = ms
        row["ratio"] = round(row["ours_images_per_s"] / row["peer_images_per_s"], 3)
        table[stage] = row
    write_result(
        {
            "command": command_line(argv),
            "images": args.images,
            "size": args.size,
            "batch_size": args.batch_size,
            "rounds": args.rounds,
            "stages": table,
            "ratio_full": table["full"]["ratio"],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
