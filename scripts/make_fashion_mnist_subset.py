"""Builds keras_contrastive/data/assets/fashion_mnist_subset.npz.xz.

A deterministic (seeded), class-balanced subset of Fashion-MNIST taken from the
original IDX files (by default those of the Debian package
`dataset-fashion-mnist`). The file is an uncompressed `.npz` inside an xz
(LZMA) stream: `np.savez_compressed` (zlib) would not fit 13,000 images into
5 MB. Images are stored sorted by class, which compresses better;
`load_fashion_mnist_subset()` puts them back into their original order.

Usage:
    python scripts/make_fashion_mnist_subset.py [--path DIR] [--seed 0]
        [--train-per-class 1100] [--test-per-class 200]
"""

import argparse
import io
import lzma
import os
import sys
import zipfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from keras_contrastive.data.fashion_mnist import (  # noqa: E402
    SUBSET_FILENAME,
    load_fashion_mnist,
)

MAX_BYTES = 5_000_000


def balanced_indices(labels, per_class, rng):
    """`per_class` indices of each class drawn without replacement, class-sorted."""
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} images < {per_class}")
        chosen.append(np.sort(rng.choice(members, per_class, replace=False)))
    return np.concatenate(chosen)


def npz_bytes(**arrays):
    """An uncompressed .npz with fixed member timestamps (same bytes every run)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zipf:
        for key, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(value))
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            zipf.writestr(info, member.getvalue())
    return buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, default=1100)
    parser.add_argument("--test-per-class", type=int, default=200)
    parser.add_argument(
        "--out",
        default=os.path.join(REPO, "keras_contrastive", "data", "assets", SUBSET_FILENAME),
    )
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(args.path)
    rng = np.random.default_rng(args.seed)
    train_idx = balanced_indices(y_train, args.train_per_class, rng)
    test_idx = balanced_indices(y_test, args.test_per_class, rng)

    members = npz_bytes(
        x_train=x_train[train_idx, ..., 0],
        y_train=y_train[train_idx].astype(np.uint8),
        train_indices=train_idx.astype(np.int32),
        x_test=x_test[test_idx, ..., 0],
        y_test=y_test[test_idx].astype(np.uint8),
        test_indices=test_idx.astype(np.int32),
    )
    payload = lzma.compress(members, preset=9 | lzma.PRESET_EXTREME)
    if len(payload) > MAX_BYTES:
        raise SystemExit(f"The subset takes {len(payload)} bytes > {MAX_BYTES}; lower --train-per-class.")
    with open(args.out, "wb") as f:
        f.write(payload)
    print(f"wrote {args.out}: {len(train_idx)} train + {len(test_idx)} test images, {len(payload)} bytes")


if __name__ == "__main__":
    main()
