"""Streaming image sources (`folder:`, `tfrecord:`, `tfds:`) against direct reads of the files, crop-first
decoding against decode-then-crop, bad files, and a data set whose size does not grow with the data."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_contrastive import data
from keras_contrastive.augment import SimCLRAugmentation
from keras_contrastive.data import image_decode, streaming
from keras_contrastive.data.tfrecord import write_shards

# (extension, PIL mode): every format in every mode it can hold. GIFs are palette images (without
# transparency here: TF's GIF decoder does not say which pixels were transparent).
CASES = [
    ("jpg", "L"),
    ("jpg", "RGB"),
    ("png", "L"),
    ("png", "LA"),
    ("png", "RGB"),
    ("png", "RGBA"),
    ("png", "P"),
    ("bmp", "L"),
    ("bmp", "RGB"),
    ("bmp", "P"),
    ("gif", "P"),
    ("gif", "L"),
]


def _pixels(rng, size, smooth=True):
    """RGBA uint8: smooth gradients and blobs (photo-like, so JPEG rounding stays small), random alpha."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    phase = rng.uniform(0, 6, 4)
    channels = [127 + 120 * np.sin(3 * x + 2 * y + p) for p in phase[:3]]
    alpha = 255 * (0.5 + 0.5 * np.sin(5 * x + phase[3]))
    rgba = np.stack([*channels, alpha], -1)
    if not smooth:
        rgba += rng.normal(0, 30, rgba.shape)
    return np.clip(rgba, 0, 255).astype(np.uint8)


def _write(path, ext, mode, rng, size=(20, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(_pixels(rng, size), "RGBA").convert(mode)
    image.save(path, quality=95) if ext == "jpg" else image.save(path)
    return path


def _direct(path, channels):
    """The file read with Pillow: transparency composited on white, grey by ITU-R 601 luma, in [0, 1]."""
    with Image.open(path) as image:
        image.seek(0)
        rgba = np.asarray(image.convert("RGBA"), np.float64)
    alpha = rgba[..., 3:] / 255.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    if channels == 1:
        rgb = (rgb @ np.array([0.2989, 0.5870, 0.1140]))[..., None]
    return rgb / 255.0


def _streamed(split, size, channels):
    """`{name: (image, label)}` of a split through the evaluation stream (centred square, no resize here)."""
    out = {}
    for images, labels, names in data.eval_stream(split, size, channels, 5, names=True):
        for image, label, name in zip(images.numpy(), labels.numpy(), names.numpy()):
            out[name.decode()] = (image, int(label))
    return out


def _check_close(name, got, expected):
    difference = np.abs(got - expected)
    if name.endswith(".jpg"):
        # Two JPEG decoders (libjpeg-turbo in TF and in Pillow) round differently, and a grey view of a colour
        # JPEG is its luma plane as stored (TF) against the luma of the decoded colours (the direct read).
        assert difference.mean() <= 2.5 / 255 and difference.max() <= 16 / 255, (name, difference.max() * 255)
    else:
        assert difference.max() <= 1.01 / 255, (name, difference.max() * 255)


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_yields_every_format_and_mode_as_a_direct_read_with_nested_class_labels(tmp_path, channels):
    rng = np.random.default_rng(0)
    expected = {}
    for i, (ext, mode) in enumerate(CASES):
        label = i % 2
        nested = "deeper/" if i % 3 == 0 else ""  # a class's images may sit in nested folders
        path = _write(tmp_path / "train" / f"class{label}" / f"{nested}{i}_{mode}.{ext}", ext, mode, rng)
        expected[str(path)] = label
        test = _write(tmp_path / "test" / f"class{label}" / f"t{i}.{ext}", ext, mode, rng)
        expected[str(test)] = label
    source = data.open_image_source(f"folder:{tmp_path}", channels=channels)
    assert source.image_shape == (20, 20, channels) and source.class_names == ("class0", "class1")
    assert source.train.num_examples == source.test.num_examples == len(CASES)
    streamed = {**_streamed(source.train, (20, 20), channels), **_streamed(source.test, (20, 20), channels)}
    assert sorted(streamed) == sorted(expected), "a file was left out or read twice"
    for name, (image, label) in streamed.items():
        assert label == expected[name], name
        _check_close(name, image, _direct(name, channels))


def test_channels_default_to_rgb_when_any_image_has_colour_else_grey(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        _write(tmp_path / "grey" / "a" / f"{i}.png", "png", "L", rng)
    assert data.open_image_source(f"folder:{tmp_path / 'grey'}").channels == 1
    _write(tmp_path / "grey" / "a" / "colour.jpg", "jpg", "RGB", rng)
    assert data.open_image_source(f"folder:{tmp_path / 'grey'}").channels == 3


def test_unlabeled_folder_and_hash_split(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(12):
        _write(tmp_path / "flat" / ("sub" if i % 2 else "") / f"{i}.png", "png", "RGB", rng)
    # A folder whose images sit directly in it (or below, without class folders) is unlabeled.
    (tmp_path / "flat" / "sub").rename(tmp_path / "sub")
    source = data.open_image_source(f"folder:{tmp_path / 'flat'}")
    assert not source.labelled and source.test is None and source.train.num_examples == 6
    assert {label for _, label in _streamed(source.train, (20, 20), 3).values()} == {-1}

    # Class folders without train/ and test/: a test split by hash of the relative path, stable as files
    # are added.
    for i in range(40):
        _write(tmp_path / "classes" / f"c{i % 2}" / f"{i}.png", "png", "L", rng, size=(8, 8))
    first = data.open_image_source(f"folder:{tmp_path / 'classes'}", test_fraction=0.25)
    assert first.train.num_examples + first.test.num_examples == 40 and 4 <= first.test.num_examples <= 18
    test_names = set(_streamed(first.test, (8, 8), 1))
    for i in range(40, 50):
        _write(tmp_path / "classes" / f"c{i % 2}" / f"{i}.png", "png", "L", rng, size=(8, 8))
    again = data.open_image_source(f"folder:{tmp_path / 'classes'}", test_fraction=0.25)
    assert test_names <= set(_streamed(again.test, (8, 8), 1)), "a test image moved to the training split"


def test_tfrecord_shards_hold_the_files_and_read_back_as_the_folder(tmp_path):
    rng = np.random.default_rng(3)
    for i, (ext, mode) in enumerate(CASES):
        _write(tmp_path / "images" / f"class{i % 3}" / f"{i}.{ext}", ext, mode, rng)
    result = write_shards(f"folder:{tmp_path / 'images'}", str(tmp_path / "shards"), shards=3, workers=2)
    assert result["written"] >= 4 and result["kept"] == 0 and sum(result["counts"].values()) == len(CASES)
    folder = data.open_image_source(f"folder:{tmp_path / 'images'}", image_size=(20, 20), channels=3)
    shards = data.open_image_source(f"tfrecord:{tmp_path / 'shards'}", image_size=(20, 20), channels=3)
    assert shards.class_names == folder.class_names and shards.train.num_files == 3
    assert shards.train.num_examples == folder.train.num_examples
    root = str(tmp_path / "images") + os.sep
    by_folder = {
        n[len(root) :]: v for split in (folder.train, folder.test) for n, v in _streamed(split, (20, 20), 3).items()
    }
    by_shards = {n: v for split in (shards.train, shards.test) for n, v in _streamed(split, (20, 20), 3).items()}
    assert sorted(by_shards) == sorted(by_folder)
    for name, (image, label) in by_shards.items():
        assert label == by_folder[name][1]
        np.testing.assert_array_equal(image, by_folder[name][0])  # the same bytes, decoded the same way

    # Atomic per shard: a complete shard is kept, a missing one is written again, a temporary file is not a
    # shard. A glob without shards.json is counted.
    missing = sorted((tmp_path / "shards").glob("train-*"))[1]
    missing.unlink()
    (tmp_path / "shards" / ".train-00001-of-00003.tfrecord.tmp-1").write_bytes(b"partial")
    again = write_shards(f"folder:{tmp_path / 'images'}", str(tmp_path / "shards"), shards=3, workers=1)
    assert again["written"] == 1 and again["kept"] == result["written"] - 1
    globbed = data.open_image_source(f"tfrecord:{tmp_path / 'shards'}/train-*", image_size=(20, 20), channels=3)
    assert globbed.train.num_examples == shards.train.num_examples and globbed.num_classes == 3


def test_tfrecord_reads_tfds_style_keys_too(tmp_path):
    rng = np.random.default_rng(9)
    expected = {}
    with tf.io.TFRecordWriter(str(tmp_path / "data.tfrecord-00000-of-00001")) as writer:
        for i in range(5):
            path = _write(tmp_path / f"{i}.png", "png", "RGB", rng, size=(10, 10))
            feature = {
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[path.read_bytes()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 2])),
                "file_name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f"{i}.png".encode()])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
            expected[f"{i}.png"] = (_direct(path, 3), i % 2)
    source = data.open_image_source(f"tfrecord:{tmp_path}/data.tfrecord-*", image_size=(10, 10), channels=3)
    assert source.train.num_examples == 5 and source.num_classes == 2
    streamed = _streamed(source.train, (10, 10), 3)
    assert sorted(streamed) == sorted(expected)
    for name, (image, label) in streamed.items():
        assert label == expected[name][1]
        _check_close(name, image, expected[name][0])


class StreamingTinyImages:  # a TFDS builder prepared locally (no download), made once per test session
    builder = None


def _tfds_builder(data_dir):
    import tensorflow_datasets as tfds

    if StreamingTinyImages.builder is None:

        class StreamingTiny(tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version("1.0.0")

            def _info(self):
                image = tfds.features.Image(shape=(None, None, 3))
                label = tfds.features.ClassLabel(num_classes=2)
                features = tfds.features.FeaturesDict({"image": image, "label": label})
                return tfds.core.DatasetInfo(builder=self, features=features, supervised_keys=("image", "label"))

            def _split_generators(self, dl_manager):
                return {"train": self._generate_examples(0, 10), "test": self._generate_examples(1, 4)}

            def _generate_examples(self, seed, count):
                rng = np.random.default_rng(seed)
                for i in range(count):
                    image = _pixels(rng, (12 + i, 16))[..., :3]
                    yield f"{seed}-{i}", {"image": image, "label": i % 2}

        StreamingTinyImages.builder = StreamingTiny
    builder = StreamingTinyImages.builder(data_dir=data_dir)
    builder.download_and_prepare()
    return builder


def test_tfds_source_reads_a_prepared_builder_encoded_and_never_downloads(tmp_path):
    import tensorflow_datasets as tfds

    builder = _tfds_builder(str(tmp_path / "tfds"))
    data_dir = str(tmp_path / "tfds")
    source = data.open_image_source(f"tfds:{builder.name}", image_size=(12, 12), channels=3, data_dir=data_dir)
    assert source.train.num_examples == 10 and source.test.num_examples == 4 and source.num_classes == 2
    streamed = {}
    for split in (source.train, source.test):
        streamed.update(_streamed(split, (12, 12), 3))
    # A direct read: TFDS's own decoded examples, the centred square resized to 12 x 12.
    expected = {}
    for split in ("train", "test"):
        config = tfds.ReadConfig(add_tfds_id=True)
        for example in builder.as_dataset(split=split, read_config=config):
            image = tf.cast(example["image"], tf.float32)
            side = min(image.shape[:2])
            top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
            square = tf.image.resize(image[top : top + side, left : left + side], (12, 12)) / 255.0
            expected[example["tfds_id"].numpy().decode()] = (square.numpy(), int(example["label"]))
    assert sorted(streamed) == sorted(expected)
    for name, (image, label) in streamed.items():
        assert label == expected[name][1]
        np.testing.assert_allclose(image, expected[name][0], atol=1e-4)

    with pytest.raises(FileNotFoundError, match="not prepared.*never downloads.*download_and_prepare"):
        data.open_image_source("tfds:mnist", data_dir=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="does not know the dataset 'no_such_data'"):
        data.open_image_source("tfds:no_such_data", data_dir=str(tmp_path / "empty"))


def _jpeg(rng, size, quality=95):
    buffer = io.BytesIO()
    Image.fromarray(_pixels(rng, size)[..., :3]).save(buffer, "JPEG", quality=quality)
    return tf.constant(buffer.getvalue())


def test_crop_then_decode_equals_decode_then_crop_on_the_same_box():
    rng = np.random.default_rng(4)
    encoded = _jpeg(rng, (90, 120))
    full = image_decode.decode_image(encoded, 3).numpy()
    for _ in range(6):
        h, w = int(rng.integers(8, 80)), int(rng.integers(8, 110))
        y, x = int(rng.integers(0, 90 - h)), int(rng.integers(0, 120 - w))
        (crop,) = image_decode.crop_resize(encoded, [tf.constant([y, x, h, w])], [(h, w)], 3, dct_scaling=False)
        expected = full[y : y + h, x : x + w]
        difference = np.abs(crop.numpy() - expected)
        # Inside, identical; on the box's edge JPEG's chroma upsampling sees other neighbours (+-4 levels).
        assert difference[2:-2, 2:-2].max() <= 1.01 / 255 and difference.max() <= 8 / 255, (y, x, h, w)
        # The same box of the decoded JPEG by the other path of crop_resize (a decoded PNG): exact.
        png = io.BytesIO()
        Image.fromarray(np.round(full * 255).astype(np.uint8)).save(png, "PNG")
        (same,) = image_decode.crop_resize(tf.constant(png.getvalue()), [tf.constant([y, x, h, w])], [(h, w)], 3)
        np.testing.assert_allclose(same.numpy(), expected, atol=1e-3)
    # Decoded at 1/4 scale (DCT scaling) for a view 4x smaller than its box: the same picture as decoding
    # everything and shrinking it.
    (small,) = image_decode.crop_resize(encoded, [tf.constant([0, 0, 88, 120])], [(22, 30)], 3)
    shrunk = tf.image.resize(full[None, :88], (22, 30), antialias=True)[0].numpy()
    assert np.abs(small.numpy() - shrunk).mean() <= 2 / 255


def test_crop_boxes_follow_the_scale_and_ratio_ranges_and_flips_mirror():
    shape = tf.constant([300, 400])
    areas, ratios = [], []
    for seed in range(200):
        y, x, h, w = image_decode.sample_crop_box(shape, (0.2, 0.6), (0.75, 1.33), tf.constant([seed, 1])).numpy()
        assert 0 <= y and y + h <= 300 and 0 <= x and x + w <= 400
        areas.append(h * w / 120000)
        ratios.append(w / h)
    assert 0.19 <= min(areas) and max(areas) <= 0.61 and np.ptp(areas) > 0.2
    assert 0.72 <= min(ratios) and max(ratios) <= 1.38
    encoded = _jpeg(np.random.default_rng(5), (64, 64))
    box = tf.constant([8, 4, 40, 48])
    plain, flipped = image_decode.crop_resize(encoded, [box, box], [(16, 16), (16, 16)], 3, [False, True])
    np.testing.assert_allclose(flipped.numpy(), plain.numpy()[:, ::-1], atol=1e-5)


def _folder_with_bad_files(root, rng):
    """An unlabeled folder of 10 good JPEGs and 4 bad files; returns the bad files' names."""
    for i in range(10):
        _write(root / f"{i}.jpg", "jpg", "RGB", rng, size=(24, 30))
    good = (root / "0.jpg").read_bytes()
    bad = {
        "truncated.jpg": good[: len(good) // 3],
        "garbage.png": b"\x89PNG\r\n\x1a\n this is not a PNG",
        "empty.gif": b"",
    }
    for name, content in bad.items():
        (root / name).write_bytes(content)
    os.symlink(root.parent / "nowhere.jpg", root / "dangling.jpg")  # listed, but cannot be read
    return sorted(str(root / n) for n in [*bad, "dangling.jpg"])


def test_corrupt_truncated_and_unreadable_files_are_skipped_and_named(tmp_path):
    bad = _folder_with_bad_files(tmp_path / "data", np.random.default_rng(6))
    source = data.open_image_source(f"folder:{tmp_path / 'data'}", image_size=(16, 16), channels=3)
    assert source.train.num_examples == 14
    log = tmp_path / "skipped.txt"
    views = [SimCLRAugmentation(16, seed=1), SimCLRAugmentation(16, seed=2)]
    ds = data.pretrain_stream(source.train, views, 2, 3, seed=0, repeat=False, skip_log=str(log), drop_remainder=False)
    assert sum(int(batch["views"][0].shape[0]) for batch in ds) == 10
    assert sorted(log.read_text().split()) == bad

    raising = data.pretrain_stream(source.train, views, 2, 3, shuffle=False, repeat=False, on_error="raise")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        for _ in raising:
            pass
    assert streaming.UNREADABLE in info.value.message
    assert any(name in info.value.message for name in bad)


def test_bad_folders_are_clear_errors_naming_the_path_and_the_fix(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"{tmp_path / 'empty'}' holds no image.*Put images in it"):
        data.open_image_source(f"folder:{tmp_path / 'empty'}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="holds no image"):
        data.open_image_source(f"folder:{tmp_path / 'notes'}")
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        data.open_image_source(f"folder:{tmp_path / 'file.jpg'}")
    with pytest.raises(FileNotFoundError, match="not found"):
        data.open_image_source(f"folder:{tmp_path / 'missing'}")
    rng = np.random.default_rng(7)
    _write(tmp_path / "mixed" / "a" / "0.png", "png", "L", rng)
    _write(tmp_path / "mixed" / "loose.png", "png", "L", rng)
    with pytest.raises(ValueError, match="both class sub-folders.*loose.png.*Move those into a class folder"):
        data.open_image_source(f"folder:{tmp_path / 'mixed'}")
    (tmp_path / "hollow" / "a").mkdir(parents=True)
    _write(tmp_path / "hollow" / "b" / "0.png", "png", "L", rng)
    with pytest.raises(ValueError, match=f"Class folder '{tmp_path / 'hollow' / 'a'}' holds no image"):
        data.open_image_source(f"folder:{tmp_path / 'hollow'}")
    for i in range(2):
        _write(tmp_path / "sizes" / "a" / f"{i}.png", "png", "L", rng, size=(10 + i, 10))
    with pytest.raises(ValueError, match="differ in size.*data.image_size"):
        data.open_image_source(f"folder:{tmp_path / 'sizes'}")
    with pytest.raises(FileNotFoundError, match="No file matches tfrecord:"):
        data.open_image_source(f"tfrecord:{tmp_path}/nothing-*")


def test_the_data_set_holds_nothing_that_grows_with_the_number_of_images(tmp_path):
    rng = np.random.default_rng(8)
    views = [SimCLRAugmentation(16, seed=1), SimCLRAugmentation(16, seed=2)]
    sizes = {}
    for count in (8, 200):
        root = tmp_path / f"n{count}"
        for i in range(count):
            (root / "a").mkdir(parents=True, exist_ok=True)
            (root / "a" / f"{i:04d}.jpg").write_bytes(_jpeg(rng, (24, 24), quality=70).numpy())
        source = data.open_image_source(f"folder:{root}", work_dir=str(tmp_path / f"work{count:03d}"))
        ds = data.pretrain_stream(source.train, views, 4, source.channels, labels=True)
        sizes[count] = len(ds._as_serialized_graph().numpy())
    # The graph names the listing file; 25x the images change nothing in it but a few bytes of counts and
    # of traced functions' numbered names (an image here is 1,728 bytes).
    assert abs(sizes[200] - sizes[8]) <= 512, sizes
    # In memory, the images are in the graph: the test would see them.
    images = np.zeros((200, 24, 24, 3), np.uint8)
    in_memory = len(data.pretrain_dataset(images, views, 4)._as_serialized_graph().numpy())
    assert in_memory >= images.nbytes > 1.5 * sizes[200]
