"""Writing an image folder as TFRecord shards: `write_shards("folder:PATH", to=DIR, shards=N)`, the library
side of `keras-contrastive data shard folder:PATH --to DIR --shards N`.

Each record is a `tf.train.Example` in the convention of TF's ImageNet TFRecords and TFDS, which
`tfrecord:DIR` reads back (`data.image_source`):

- `image/encoded`: the file's bytes as they are (no re-encoding: a JPEG stays the same JPEG, so the crop
  is still decoded first);
- `image/class/label`: int64 class index (-1 for an unlabeled folder);
- `image/filename`: the file's path relative to the folder (names a bad record in messages);
- `image/format`: the file's extension.

Files are dealt to the shards in a seeded random order (so each shard mixes every class, as reading a few
shards at a time needs), then the shards are written by `workers` processes in parallel. Each shard is
written under a temporary name and renamed when complete: a shard is either whole or absent, and running
the same command again writes only the shards that are missing. `shards.json` (written last) records the
counts and class names.
"""

import json
import multiprocessing
import os

import numpy as np

from keras_contrastive.data import sources
from keras_contrastive.data.image_source import SHARDS_FILE, DataError, open_image_source


def shard_name(split, index, count):
    """`train-00003-of-00016.tfrecord`."""
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def _write_one(job):
    """Writes one shard (in a worker process): `job = (target, [(label, path, relative name)])`."""
    import tensorflow as tf

    target, entries = job
    if os.path.exists(target):
        return target, len(entries), True
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.tmp-{os.getpid()}")
    try:
        with tf.io.TFRecordWriter(tmp) as writer:
            for label, path, name in entries:
                with open(path, "rb") as f:
                    encoded = f.read()
                feature = {
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                    "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode("utf-8")])),
                    "image/format": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[os.path.splitext(name)[1].lstrip(".").lower().encode()])
                    ),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target, len(entries), False


def _entries(listing, root):
    with open(listing, encoding="utf-8") as f:
        for line in f:
            label, path = line.rstrip("\n").split("\t", 1)
            yield int(label), path, os.path.relpath(path, root)


def write_shards(spec, to, shards, workers=None, seed=0, test_fraction=0.2):
    """Writes the images of `spec` (`folder:PATH`) as TFRecord shards in `to`.

    Args:
        spec: str. `folder:PATH` (class sub-folders or none, optional `train/` and `test/`; a folder without
            them gets a test split by hash of each file's path, as when training on the folder).
        to: str. The output folder (created).
        shards: int. Shards of the training split; the test split gets `max(1, shards * test / train)`.
        workers: int or None. Processes writing shards in parallel. Defaults to the CPU count.
        seed: int. Seed of the order files are dealt to shards (and of the test split's hash). Defaults to `0`.
        test_fraction: float. See `data.open_image_source`. Defaults to `0.2`.

    Returns:
        A dict: `counts` (records per split), `shards` (per split), `written` and `kept` (shard files written
        now, and already complete from an earlier run), `class_names`, `to`.
    """
    kind = sources.find(spec, "image")
    if kind is None or kind.prefix != "folder":
        raise DataError(f"data shard takes folder:PATH (a folder of images); received {spec!r}.")
    if int(shards) < 1:
        raise DataError(f"--shards must be at least 1; received {shards}.")
    if os.path.isfile(to):
        raise DataError(f"--to {to!r} is a file: give a folder for the shards.")
    os.makedirs(to, exist_ok=True)
    root = os.path.normpath(os.path.expanduser(sources.parse(spec, "image").argument))
    source = open_image_source(spec, image_size=(1, 1), channels=3, test_fraction=test_fraction, seed=seed,
                               work_dir=os.path.join(to, ".listing"))  # fmt: skip
    splits = {"train": source.train}
    if source.test is not None:
        splits["test"] = source.test
    jobs, counts, per_split = [], {}, {}
    rng = np.random.default_rng(seed)
    for split, listed in splits.items():
        entries = list(_entries(listed.location, root))
        order = rng.permutation(len(entries))
        share = len(entries) / source.train.num_examples
        count = int(shards) if split == "train" else max(1, round(int(shards) * share))
        count = min(count, len(entries))
        for index, part in enumerate(np.array_split(order, count)):
            jobs.append((os.path.join(to, shard_name(split, index, count)), [entries[i] for i in part]))
        counts[split], per_split[split] = len(entries), count
    workers = int(workers or os.cpu_count() or 1)
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            done = pool.map(_write_one, jobs, chunksize=1)
    else:
        done = [_write_one(job) for job in jobs]
    meta = {
        "counts": counts,
        "shards": per_split,
        "class_names": list(source.class_names or []),
        "num_classes": source.num_classes,
        "source": f"folder:{root}",
    }
    tmp = os.path.join(to, f".{SHARDS_FILE}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, os.path.join(to, SHARDS_FILE))
    return {
        **meta,
        "written": sum(1 for _, _, kept in done if not kept),
        "kept": sum(1 for _, _, kept in done if kept),
        "to": to,
    }
