"""Image–caption pairs for CLIP: folders, manifests, and two offline Debian data sets.

- `folder:PATH`: every image `x.png` / `x.jpg` under PATH with a sidecar
  caption `x.txt` (first line).
- `manifest:PATH` (or a path ending in `.csv` / `.tsv`): a CSV or TSV file
  with a header holding the columns `image` and `caption` (and optionally
  `split`, `train` or `held_out`); image paths are relative to the file.
- `tuxpaint`: the photos of Debian `tuxpaint-stamps-default`
  (`/usr/share/tuxpaint/stamps/`), each with a hand-written caption in a
  sidecar `.txt` whose first line is the English text (the other lines are
  `locale.utf8=...` translations).
- `emoji`: the fully-qualified emoji of `/usr/share/unicode/emoji/emoji-test.txt`
  (Debian `unicode-data`) rendered from Debian `fonts-noto-color-emoji` with
  Pillow (the bitmap font only renders at size 109), captioned with their
  CLDR name and labelled with their group (9 groups; `Component` holds no
  fully-qualified emoji).
- `emoji+tuxpaint`: both.

The held-out split is deterministic: an example is held out when the hash
of its split key (the caption source's own name, e.g. the emoji's name
without skin tones) falls in the first `held_out_fraction` of the hash
range, so a pair never changes side when others are added.
"""

import csv
import dataclasses
import hashlib
import os
import re

import numpy as np
import tensorflow as tf

from keras_contrastive.data import sources
from keras_contrastive.data.sources import IMAGE_EXTENSIONS

TUXPAINT_DIR = "/usr/share/tuxpaint/stamps"
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
EMOJI_TEST = "/usr/share/unicode/emoji/emoji-test.txt"
EMOJI_FONT_SIZE = 109  # the only size of NotoColorEmoji's CBDT bitmaps
EMOJI_GROUPS = (
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Travel & Places",
    "Activities",
    "Objects",
    "Symbols",
    "Flags",
)
HELD_OUT_FRACTION = 0.2
_LOCALE_LINE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?(@\w+)?\.utf-?8=", re.IGNORECASE)
_SKIN_TONE = re.compile(r"(light|medium-light|medium|medium-dark|dark) skin tone")


@dataclasses.dataclass
class ImageTextPairs:
    """Images with one caption each, and the held-out flag of each pair.

    Args:
        images: numpy array. uint8 RGB images `[N, H, W, 3]`.
        captions: list of str. One caption per image.
        keys: list of str. The split key of each pair (a file's relative
            path, an emoji's name).
        held_out: numpy array. bool `[N]`: never trained on.
        labels: numpy array or None. int class of each pair (`-1` = none),
            e.g. the emoji group. Defaults to `None`.
        class_names: tuple of str or None. Names of the label classes.
            Defaults to `None`.
        name: str. The source. Defaults to `"pairs"`.
    """

    images: np.ndarray
    captions: list
    keys: list
    held_out: np.ndarray
    labels: np.ndarray = None
    class_names: tuple = None
    name: str = "pairs"

    def __post_init__(self):
        n = len(self.captions)
        if not isinstance(self.images, np.ndarray) or self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"ImageTextPairs {self.name!r}: images must be uint8 [N, H, W, 3].")
        if n == 0:
            raise ValueError(f"ImageTextPairs {self.name!r} holds no pairs.")
        if not len(self.images) == len(self.keys) == len(self.held_out) == n:
            raise ValueError(
                f"ImageTextPairs {self.name!r}: {len(self.images)} images, {n} captions, {len(self.keys)} keys "
                f"and {len(self.held_out)} held-out flags must be as many."
            )
        if self.labels is None:
            self.labels = np.full((n,), -1, dtype=np.int32)

    def __len__(self):
        return len(self.captions)

    @property
    def image_shape(self):
        return tuple(self.images.shape[1:])

    def subset(self, mask):
        """The pairs where `mask` (bool `[N]`) is true."""
        mask = np.asarray(mask, dtype=bool)
        return dataclasses.replace(
            self,
            images=self.images[mask],
            captions=[c for c, m in zip(self.captions, mask) if m],
            keys=[k for k, m in zip(self.keys, mask) if m],
            held_out=self.held_out[mask],
            labels=self.labels[mask],
        )

    def split(self, which):
        """`"train"` (not held out), `"held_out"` or `"all"`."""
        if which not in ("train", "held_out", "all"):
            raise ValueError(f"split must be 'train', 'held_out' or 'all', received {which!r}.")
        if which == "all":
            return self
        return self.subset(self.held_out if which == "held_out" else ~self.held_out)


def held_out_mask(keys, fraction=HELD_OUT_FRACTION):
    """bool `[N]`: the keys whose SHA-1 falls in the first `fraction` of the hash range (deterministic)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in [0, 1), received {fraction!r}.")
    hashes = [int.from_bytes(hashlib.sha1(k.encode("utf-8")).digest()[:8], "big") / 2.0**64 for k in keys]
    return np.asarray(hashes, dtype=np.float64) < fraction


def _missing_package(path, package):
    return FileNotFoundError(
        f"{path} not found: it comes with the Debian package {package}. Install it with "
        f"`sudo apt-get install -y {package}` (or pass the files' location explicitly)."
    )


def read_rgb_image(path, image_size):
    """uint8 `[H, W, 3]`: the image at `path`, transparency composited on white, padded to a square
    (white) and resized to `image_size` `(H, W)`."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return _square_rgb(im, image_size)
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"Could not decode image {path!r} ({e}). Remove or replace the file.") from e


def _square_rgb(im, image_size):
    from PIL import Image

    im = im.convert("RGBA")
    side = max(im.size)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(im, ((side - im.size[0]) // 2, (side - im.size[1]) // 2))
    h, w = image_size
    return np.asarray(canvas.convert("RGB").resize((w, h), Image.LANCZOS), dtype=np.uint8)


def read_caption(path):
    """The caption in a sidecar `.txt`: its first line that is not a `locale.utf8=` translation."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f]
    for line in lines:
        if line and not _LOCALE_LINE.match(line):
            return line
    raise ValueError(f"Caption file {path!r} holds no caption (it is empty or only has translations).")


def _pairs(images, captions, keys, name, held_out=None, fraction=HELD_OUT_FRACTION, **kwargs):
    images = np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8)
    held_out = held_out_mask(keys, fraction) if held_out is None else np.asarray(held_out, dtype=bool)
    return ImageTextPairs(images, list(captions), list(keys), held_out, name=name, **kwargs)


@dataclasses.dataclass
class PairListing:
    """Image-caption pairs listed, their images not read: what a streaming pipeline needs.

    Args:
        paths: list of str. Image files.
        captions: list of str. One caption per image.
        keys: list of str. The split key of each pair.
        held_out: numpy array. bool `[N]`.
        name: str. The source.
    """

    paths: list
    captions: list
    keys: list
    held_out: np.ndarray
    name: str
    labels: np.ndarray = None
    class_names: tuple = None

    def __post_init__(self):
        if self.labels is None:
            self.labels = np.full((len(self.paths),), -1, dtype=np.int32)

    def __len__(self):
        return len(self.paths)

    def split(self, which):
        """`"train"` (not held out), `"held_out"` or `"all"`."""
        if which not in ("train", "held_out", "all"):
            raise ValueError(f"split must be 'train', 'held_out' or 'all', received {which!r}.")
        if which == "all":
            return self
        mask = self.held_out if which == "held_out" else ~self.held_out
        return dataclasses.replace(
            self,
            paths=[p for p, m in zip(self.paths, mask) if m],
            captions=[c for c, m in zip(self.captions, mask) if m],
            keys=[k for k, m in zip(self.keys, mask) if m],
            held_out=self.held_out[mask],
            labels=self.labels[mask],
        )


def list_image_text_folder(path, held_out_fraction=HELD_OUT_FRACTION, skip_uncaptioned=False):
    """The `PairListing` of every image under `path` (recursively) with a sidecar `.txt` caption (images not
    read)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Image-caption folder {path!r} does not exist.")
    paths, captions, keys = [], [], []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for file in sorted(files):
            stem, ext = os.path.splitext(file)
            if ext.lower() not in IMAGE_EXTENSIONS:
                continue
            caption_path = os.path.join(root, stem + ".txt")
            if not os.path.isfile(caption_path):
                if skip_uncaptioned:
                    continue
                raise ValueError(
                    f"Image {os.path.join(root, file)!r} has no caption: write it in {caption_path!r} (same name, "
                    ".txt), or remove the image."
                )
            captions.append(read_caption(caption_path))
            paths.append(os.path.join(root, file))
            keys.append(os.path.relpath(os.path.join(root, stem), path))
    if not paths:
        raise ValueError(
            f"Image-caption folder {path!r} holds no captioned image ({'/'.join(IMAGE_EXTENSIONS)} with a sidecar "
            ".txt)."
        )
    return PairListing(paths, captions, keys, held_out_mask(keys, held_out_fraction), f"folder:{path}")


def load_image_text_folder(path, image_size=(64, 64), held_out_fraction=HELD_OUT_FRACTION, skip_uncaptioned=False):
    """Pairs of every image under `path` (recursively) and its sidecar `.txt` caption.

    Args:
        path: str. A folder.
        image_size: tuple `(H, W)`. Images are padded to a square and
            resized. Defaults to `(64, 64)`.
        held_out_fraction: float. Fraction held out (by hash of the relative
            path). Defaults to `0.2`.
        skip_uncaptioned: bool. Skip images without a `.txt` instead of
            raising. Defaults to `False`.
    """
    listing = list_image_text_folder(path, held_out_fraction, skip_uncaptioned)
    images = [read_rgb_image(p, image_size) for p in listing.paths]
    return _pairs(images, listing.captions, listing.keys, listing.name, held_out=listing.held_out)


def list_image_text_manifest(path, held_out_fraction=HELD_OUT_FRACTION, check_files=True):
    """The `PairListing` of a CSV (`.csv`) or TSV (any other name) manifest (images not read).

    The header names the columns `image` (a path, relative to the manifest's
    folder or absolute) and `caption`; an optional `split` column says
    `train` or `held_out` (otherwise the split is by hash of the image path).
    With `check_files=False` a missing image is not looked for here (the
    streaming pipeline skips and names it).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Manifest {path!r} does not exist.")
    delimiter = "," if path.lower().endswith(".csv") else "\t"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=delimiter))
    if not rows:
        raise ValueError(
            f"Manifest {path!r} is empty: it needs a header line with the columns image and caption, then one "
            "line per pair."
        )
    missing = {"image", "caption"} - set(rows[0])
    if missing:
        raise ValueError(
            f"Manifest {path!r} lacks the column(s) {sorted(missing)} in its header (found {sorted(rows[0])}); "
            f"{'tab' if delimiter == chr(9) else 'comma'}-separated."
        )
    base = os.path.dirname(os.path.abspath(path))
    paths, captions, keys, splits = [], [], [], []
    for line, row in enumerate(rows, start=2):
        caption = (row["caption"] or "").strip()
        if not caption:
            raise ValueError(f"Manifest {path!r}, line {line}: the caption of {row['image']!r} is empty.")
        split = (row.get("split") or "").strip()
        if split not in ("", "train", "held_out"):
            raise ValueError(f"Manifest {path!r}, line {line}: split must be train or held_out, got {split!r}.")
        image_path = os.path.join(base, row["image"])
        if check_files and not os.path.isfile(image_path):
            raise FileNotFoundError(f"Manifest {path!r}, line {line}: image {image_path!r} does not exist.")
        paths.append(image_path)
        captions.append(caption)
        keys.append(row["image"])
        splits.append(split)
    held_out = held_out_mask(keys, held_out_fraction)
    held_out = np.where([s == "" for s in splits], held_out, [s == "held_out" for s in splits])
    return PairListing(paths, captions, keys, np.asarray(held_out, bool), f"manifest:{path}")


def load_image_text_manifest(path, image_size=(64, 64), held_out_fraction=HELD_OUT_FRACTION):
    """Pairs listed in a CSV (`.csv`) or TSV (any other name) manifest (see `list_image_text_manifest`)."""
    listing = list_image_text_manifest(path, held_out_fraction)
    images = [read_rgb_image(p, image_size) for p in listing.paths]
    return _pairs(images, listing.captions, listing.keys, listing.name, held_out=listing.held_out)


def list_image_text(spec, held_out_fraction=HELD_OUT_FRACTION, path=None):
    """The `PairListing` of a streaming image-text source (`folder:PATH`, `manifest:PATH`, a `.csv` / `.tsv`
    path: `data.sources`), or `None` for the in-memory ones (`emoji`, `tuxpaint`: small, rendered or read
    whole). `path`: `data.path`, for `folder` or `manifest` written without one."""
    spec = sources.parse(spec, "image_text", path=path, what="image-text data")
    if spec.kind.in_memory:
        return None
    return spec.kind.open(spec, held_out_fraction=held_out_fraction)


def load_listing(listing, image_size=(64, 64)):
    """The `ImageTextPairs` of a `PairListing`, every image read (padded to a square, resized)."""
    images = [read_rgb_image(p, image_size) for p in listing.paths]
    return _pairs(images, listing.captions, listing.keys, listing.name, held_out=listing.held_out,
                  labels=listing.labels, class_names=listing.class_names)  # fmt: skip


def load_tuxpaint(image_size=(64, 64), path=TUXPAINT_DIR, held_out_fraction=HELD_OUT_FRACTION):
    """The captioned PNG stamps of Debian `tuxpaint-stamps-default` (SVG-only stamps are skipped).

    The caption is the English (first, untagged) line of each stamp's `.txt`.
    """
    if not os.path.isdir(path):
        raise _missing_package(path, "tuxpaint-stamps-default")
    pairs = load_image_text_folder(path, image_size, held_out_fraction, skip_uncaptioned=True)
    pairs.name = "tuxpaint"
    return pairs


def parse_emoji_test(path=EMOJI_TEST):
    """`[(emoji, name, group)]` of the fully-qualified emoji in Unicode's `emoji-test.txt`, in its order."""
    if not os.path.isfile(path):
        raise _missing_package(path, "unicode-data")
    entries, group = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# group:"):
                group = line.split(":", 1)[1].strip()
            elif "; fully-qualified" in line and "#" in line:
                # "1F600 ; fully-qualified # 😀 E1.0 grinning face"
                emoji, _, name = line.split("#", 1)[1].strip().split(" ", 2)
                entries.append((emoji, name, group))
    if not entries:
        raise ValueError(f"{path!r} lists no fully-qualified emoji: is it Unicode's emoji-test.txt?")
    return entries


def emoji_group_descriptions(path=EMOJI_TEST):
    """`{group: [group, *subgroups]}` for the 9 `EMOJI_GROUPS`: each group with the names of its subgroups in
    `emoji-test.txt` ("face-smiling" -> "face smiling"), Unicode's own description of what a group holds.

    Zero-shot classification can describe a class by several phrases (`zero_shot.class_text_embeddings`); a
    group's name alone ("Objects", "Symbols") says little of what its emoji look like.
    """
    if not os.path.isfile(path):
        raise _missing_package(path, "unicode-data")
    descriptions, group = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# group:"):
                group = line.split(":", 1)[1].strip()
                if group in EMOJI_GROUPS:
                    descriptions[group] = [group]
            elif line.startswith("# subgroup:") and group in EMOJI_GROUPS:
                descriptions[group].append(line.split(":", 1)[1].strip().replace("-", " "))
    missing = [g for g in EMOJI_GROUPS if g not in descriptions]
    if missing:
        raise ValueError(f"{path!r} has no group {missing}: is it Unicode's emoji-test.txt?")
    return {g: descriptions[g] for g in EMOJI_GROUPS}


def emoji_split_key(name):
    """An emoji's name without its skin tones: the variants of one emoji share a side of the split."""
    base, _, qualifiers = name.partition(": ")
    kept = [q for q in qualifiers.split(", ") if q and not _SKIN_TONE.fullmatch(q)]
    return ": ".join([base, ", ".join(kept)]) if kept else base


def load_emoji(
    image_size=(64, 64),
    font=EMOJI_FONT,
    emoji_test=EMOJI_TEST,
    skin_tones=False,
    held_out_fraction=HELD_OUT_FRACTION,
):
    """Emoji rendered with Pillow, captioned with their name, labelled with their group (`EMOJI_GROUPS`).

    Args:
        image_size: tuple `(H, W)`. Defaults to `(64, 64)`.
        font: str. NotoColorEmoji.ttf (Debian `fonts-noto-color-emoji`).
        emoji_test: str. `emoji-test.txt` (Debian `unicode-data`).
        skin_tones: bool. Keep the skin-tone variants (1,785 more "People &
            Body" images, near-copies of their base emoji). Defaults to
            `False`.
        held_out_fraction: float. Fraction of emoji held out, by hash of
            the name without skin tones. Defaults to `0.2`.
    """
    from PIL import Image, ImageDraw, ImageFont

    entries = parse_emoji_test(emoji_test)
    if not os.path.isfile(font):
        raise _missing_package(font, "fonts-noto-color-emoji")
    face = ImageFont.truetype(font, EMOJI_FONT_SIZE)
    images, captions, keys, labels = [], [], [], []
    for emoji, name, group in entries:
        if group not in EMOJI_GROUPS or (not skin_tones and "skin tone" in name):
            continue
        left, top, right, bottom = face.getbbox(emoji)
        canvas = Image.new("RGBA", (right - left, bottom - top), (255, 255, 255, 0))
        ImageDraw.Draw(canvas).text((-left, -top), emoji, font=face, embedded_color=True)
        box = canvas.getbbox()
        if box is None or (box[2] - box[0]) > 1.5 * (bottom - top):
            continue  # not in the font: nothing drawn, or a sequence drawn as several glyphs
        images.append(_square_rgb(canvas.crop(box), image_size))
        captions.append(name)
        keys.append(emoji_split_key(name))
        labels.append(EMOJI_GROUPS.index(group))
    return _pairs(
        images,
        captions,
        keys,
        "emoji",
        fraction=held_out_fraction,
        labels=np.asarray(labels, np.int32),
        class_names=EMOJI_GROUPS,
    )


def concatenate_pairs(parts, name):
    """One `ImageTextPairs` of several (same image size); class names are kept from the first that has them."""
    class_names = next((p.class_names for p in parts if p.class_names is not None), None)
    labels = []
    for p in parts:
        if p.class_names is not None and p.class_names != class_names:
            raise ValueError(f"Cannot concatenate {p.name!r}: its classes differ from the other parts'.")
        labels.append(p.labels)
    return ImageTextPairs(
        np.concatenate([p.images for p in parts]),
        [c for p in parts for c in p.captions],
        [f"{p.name}/{k}" for p in parts for k in p.keys],
        np.concatenate([p.held_out for p in parts]),
        labels=np.concatenate(labels),
        class_names=class_names,
        name=name,
    )


def load_image_text(spec, image_size=(64, 64), held_out_fraction=HELD_OUT_FRACTION, path=None):
    """Pairs from a spec: any image-text source of `data.sources` (`emoji`, `tuxpaint`, `emoji+tuxpaint`,
    `folder:PATH`, `manifest:PATH` or a `.csv` / `.tsv` path), every image read into memory. `path`:
    `data.path`, for `folder` or `manifest` written without one."""
    spec = sources.parse(spec, "image_text", path=path, what="image-text data")
    image_size = tuple(int(v) for v in image_size)
    return spec.kind.load(spec, image_size=image_size, held_out_fraction=held_out_fraction)


def image_text_dataset(images, texts, batch_size, augmentation=None, shuffle=True, seed=None, repeat=False):
    """Batches `{"views": (images, texts)}` for `models.CLIP`.

    Args:
        images: numpy array. uint8 `[N, H, W, 3]`.
        texts: numpy array. Token ids int32 `[N, L]`, or the locked text
            tower's features float32 `[N, D]` (`CLIP.text_tower_features`).
        batch_size: int. Global batch; the last partial batch is dropped.
        augmentation: callable or None. Applied to each float32 batch in
            `[0, 1]`. Defaults to `None`.
        shuffle: bool. Reshuffle every epoch. Defaults to `True`.
        seed: int or None. Shuffle seed. Defaults to `None`.
        repeat: bool. Repeat forever. Defaults to `False`.
    """
    if len(images) != len(texts):
        raise ValueError(f"image_text_dataset: {len(images)} images but {len(texts)} texts.")
    if len(images) < batch_size:
        raise ValueError(f"batch_size={batch_size} is larger than the {len(images)} pairs: lower the batch size.")
    images_t, texts_t = tf.constant(images), tf.constant(texts)
    ds = tf.data.Dataset.range(len(images))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(int(batch_size), drop_remainder=True)

    def gather(indices):
        batch = tf.cast(tf.gather(images_t, indices), tf.float32) / 255.0
        if augmentation is not None:
            batch = tf.convert_to_tensor(augmentation(batch))
        return {"views": (batch, tf.gather(texts_t, indices))}

    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def stream_pairs_dataset(listing, texts, batch_size, view, image_size, tokenizer=None, shuffle=True, seed=None,
                         repeat=False, on_error="skip", skip_log=None):  # fmt: skip
    """Batches `{"views": (images, texts)}` for `models.CLIP` with the images streamed from disk: each image
    read, cropped crop first by `view`'s crop (`data.streaming`, as image methods' views) and the rest of
    `view` applied to the batch.

    Args:
        listing: `PairListing`.
        texts: list of str (tokenized in the graph by `tokenizer`, per batch), or a float32 array `[N, D]` of
            a locked text tower's features.
        batch_size: int. The last partial batch is dropped.
        view: `augment.SimCLRAugmentation`. The image view.
        image_size: tuple `(H, W)`. Must be the view's size.
        tokenizer: the text tower's `SentenceTokenizer`, for string `texts`. Defaults to `None`.
        shuffle, seed, repeat: as `image_text_dataset`.
        on_error, skip_log: as `data.pretrain_stream`.
    """
    from keras_contrastive.data import streaming

    if len(listing) < batch_size:
        raise ValueError(f"batch_size={batch_size} is larger than the {len(listing)} pairs: lower the batch size.")
    strings = isinstance(texts, (list, tuple))
    if strings and tokenizer is None:
        raise ValueError("stream_pairs_dataset: captions given as strings need the text tower's tokenizer.")
    texts_t = tf.constant(list(texts), tf.string) if strings else tf.constant(np.asarray(texts))
    split = streaming.listed_files(listing.paths)
    records = split.records(shuffle=shuffle, seed=seed, repeat=repeat)
    ds = streaming.crop_first(records, split.read, [view], 3, on_error, skip_log, finish=True, finite=not repeat)
    ds = ds.batch(int(batch_size), drop_remainder=True)

    def finish(crops, index, name):
        rows = tf.gather(texts_t, index)
        text = tokenizer(rows) if strings else rows
        return {"views": (crops[0], text)}

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    # The listing is one file: workers split its records (DATA), said so that TF tries no FILE sharding.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def stream_pair_images(listing, image_size, batch_size=256, on_error="skip", skip_log=None, names=False):
    """The listed images, in order, as float32 batches (the centred square resized to `image_size`), with
    their row indices: `(images, indices)` (and their paths with `names=True`); a skipped file leaves its
    index out."""
    from keras_contrastive.data import streaming

    split = streaming.listed_files(listing.paths)
    return streaming.eval_stream(split, image_size, 3, batch_size, on_error=on_error, skip_log=skip_log, names=names)
