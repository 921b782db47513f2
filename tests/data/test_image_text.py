import collections
import os

import numpy as np
import pytest
from PIL import Image

from keras_contrastive.data import image_text
from keras_contrastive.data.image_text import (
    EMOJI_GROUPS,
    EMOJI_TEST,
    emoji_group_descriptions,
    emoji_split_key,
    held_out_mask,
    image_text_dataset,
    load_emoji,
    load_image_text,
    load_image_text_folder,
    load_image_text_manifest,
    load_tuxpaint,
    read_caption,
)

needs_emoji = pytest.mark.skipif(
    not (os.path.exists(image_text.EMOJI_FONT) and os.path.exists(image_text.EMOJI_TEST)),
    reason="apt-get install -y fonts-noto-color-emoji unicode-data",
)
needs_tuxpaint = pytest.mark.skipif(
    not os.path.isdir(image_text.TUXPAINT_DIR), reason="apt-get install -y tuxpaint-stamps-default"
)


@pytest.fixture(scope="module")
def emoji():
    return load_emoji((16, 16))


@needs_emoji
def test_emoji_are_rendered_named_and_grouped(emoji):
    assert emoji.images.shape[1:] == (16, 16, 3) and len(emoji) > 1800
    counts = collections.Counter(emoji.labels.tolist())
    assert sorted(counts) == list(range(9)) and emoji.class_names == EMOJI_GROUPS
    assert not any("skin tone" in c for c in emoji.captions)  # variants are left out by default
    i = emoji.captions.index("grinning face")
    assert EMOJI_GROUPS[emoji.labels[i]] == "Smileys & Emotion" and emoji.images[i].std() > 20
    assert EMOJI_GROUPS[emoji.labels[emoji.captions.index("flag: France")]] == "Flags"
    assert 0.15 < emoji.held_out.mean() < 0.25


@needs_emoji
def test_emoji_group_descriptions_are_the_unicode_subgroups(tmp_path):
    text = "# group: Smileys & Emotion\n# subgroup: face-smiling\n1F600 ; fully-qualified # 😀 E1.0 grinning face\n"
    text += "# subgroup: face-affection\n# group: Component\n# subgroup: skin-tone\n"
    (tmp_path / "emoji-test.txt").write_text(text + "".join(f"# group: {g}\n" for g in EMOJI_GROUPS[1:]))
    described = emoji_group_descriptions(str(tmp_path / "emoji-test.txt"))
    assert list(described) == list(EMOJI_GROUPS)
    assert described["Smileys & Emotion"] == ["Smileys & Emotion", "face smiling", "face affection"]
    assert described["Flags"] == ["Flags"]  # Component's subgroup went nowhere
    (tmp_path / "other.txt").write_text("# group: Smileys & Emotion\n")
    with pytest.raises(ValueError, match="has no group"):
        emoji_group_descriptions(str(tmp_path / "other.txt"))
    if os.path.exists(EMOJI_TEST):  # the real file: every group described by several subgroups
        real = emoji_group_descriptions()
        assert all(len(real[g]) >= 4 for g in EMOJI_GROUPS) and "animal mammal" in real["Animals & Nature"]


def test_emoji_split_is_deterministic_and_keeps_skin_tone_variants_together():
    assert emoji_split_key("thumbs up: medium-dark skin tone") == "thumbs up"
    assert emoji_split_key("woman: light skin tone, red hair") == "woman: red hair"
    assert emoji_split_key("flag: France") == "flag: France"
    keys = ["thumbs up", "flag: France", "grinning face"]
    np.testing.assert_array_equal(held_out_mask(keys), held_out_mask(keys))
    with_tones = load_emoji((8, 8), skin_tones=True)
    variants = [i for i, c in enumerate(with_tones.captions) if c.startswith("thumbs up")]
    assert len(variants) == 6 and len({bool(with_tones.held_out[i]) for i in variants}) == 1


@needs_tuxpaint
def test_tuxpaint_photos_with_english_captions():
    pairs = load_tuxpaint((16, 16))
    assert len(pairs) > 700 and pairs.images.shape[1:] == (16, 16, 3)
    assert not any(".utf8=" in c for c in pairs.captions)
    caption = pairs.captions[pairs.keys.index(os.path.join("symbols", "money", "us", "coins", "001penny"))]
    assert caption == "A US 1 cent piece ($.01) called a penny."
    # An "=" in English text is not a translation (an SVG stamp: its caption is read, the stamp skipped).
    assert read_caption(os.path.join(image_text.TUXPAINT_DIR, "household", "electronics", "calculator.txt")) == (
        "A calculator.  6x7=42"
    )
    assert pairs.images.mean() > 100  # transparency composited on white


def test_read_caption_skips_translations(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("fr.utf8=Un chat.\nen_GB.utf8=A cat.\nA cat.\nde.utf8=Eine Katze.\n", encoding="utf-8")
    assert read_caption(path) == "A cat."
    path.write_text("fr.utf8=Un chat.\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no caption"):
        read_caption(path)


def _write_images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGBA", (20, 10), (10 * i, 0, 0, 255)).save(folder / name)


def test_folder_pairs_and_missing_caption(tmp_path):
    _write_images(tmp_path / "a", ["cat.png", "dog.png"])
    (tmp_path / "a" / "cat.txt").write_text("a cat\n")
    (tmp_path / "a" / "dog.txt").write_text("a dog\n")
    pairs = load_image_text(f"folder:{tmp_path}", (8, 8))
    assert pairs.captions == ["a cat", "a dog"] and pairs.images.shape == (2, 8, 8, 3)
    assert pairs.keys == [os.path.join("a", "cat"), os.path.join("a", "dog")]
    _write_images(tmp_path / "a", ["bird.png"])
    with pytest.raises(ValueError, match=r"bird.png' has no caption: write it in '.*bird.txt'"):
        load_image_text_folder(tmp_path, (8, 8))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no captioned image"):
        load_image_text_folder(tmp_path / "empty", (8, 8))


def test_manifest_pairs_and_split_column(tmp_path):
    _write_images(tmp_path / "img", ["0.png", "1.png", "2.png"])
    manifest = tmp_path / "pairs.tsv"
    lines = ["image\tcaption\tsplit", "img/0.png\ta red square\theld_out", "img/1.png\ta cat\t", "img/2.png\tx\ttrain"]
    manifest.write_text("\n".join(lines) + "\n")
    pairs = load_image_text(str(manifest), (8, 8))
    assert pairs.captions == ["a red square", "a cat", "x"] and pairs.held_out[0] and not pairs.held_out[2]
    assert len(pairs.split("held_out")) + len(pairs.split("train")) == 3


@pytest.mark.parametrize(
    "text,error,message",
    [
        ("", ValueError, "is empty: it needs a header line"),
        ("image,caption\n", ValueError, "is empty"),
        ("path,text\nimg/0.png,a\n", ValueError, r"lacks the column\(s\) \['caption', 'image'\]"),
        ("image,caption\nimg/0.png,\n", ValueError, "line 2: the caption of 'img/0.png' is empty"),
        ("image,caption\nimg/9.png,a\n", FileNotFoundError, "img/9.png' does not exist"),
        ("image,caption,split\nimg/0.png,a,test\n", ValueError, "split must be train or held_out, got 'test'"),
    ],
)
def test_bad_manifests_say_what_is_wrong(tmp_path, text, error, message):
    _write_images(tmp_path / "img", ["0.png"])
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(error, match=message):
        load_image_text_manifest(tmp_path / "bad.csv")


def test_missing_debian_files_name_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y fonts-noto-color-emoji"):
        load_emoji(font=str(tmp_path / "none.ttf"))
    with pytest.raises(FileNotFoundError, match="apt-get install -y unicode-data"):
        load_emoji(emoji_test=str(tmp_path / "none.txt"))
    with pytest.raises(FileNotFoundError, match="apt-get install -y tuxpaint-stamps-default"):
        load_tuxpaint(path=str(tmp_path / "stamps"))
    with pytest.raises(ValueError, match="Unknown image-text data 'emojis'"):
        load_image_text("emojis")


def test_image_text_dataset_batches():
    images = np.zeros((10, 8, 8, 3), np.uint8)
    texts = np.arange(40, dtype=np.int32).reshape(10, 4)
    element = next(iter(image_text_dataset(images, texts, 4, seed=0)))
    assert element["views"][0].shape == (4, 8, 8, 3) and element["views"][1].shape == (4, 4)
    with pytest.raises(ValueError, match="larger than the 10 pairs"):
        image_text_dataset(images, texts, 16)
