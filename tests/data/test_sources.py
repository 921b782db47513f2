"""The source registry (`data.sources`): every declared source validates its keys, one parser, one list."""

import pytest

from keras_contrastive import recipes
from keras_contrastive.data import sources
from keras_contrastive.text.testing import TINY_VOCABULARY

# A method of each modality, with the smallest encoder (only validated here, never built).
_TEXT_ENCODER = {"name": "small_transformer", "vocabulary": TINY_VOCABULARY, "num_layers": 1, "num_heads": 2,
                 "hidden_dim": 8, "intermediate_dim": 16, "sequence_length": 12}  # fmt: skip
_METHODS = {
    "image": ({"name": "simclr"}, {"name": "convnet"}),
    "text": ({"name": "simcse"}, _TEXT_ENCODER),
    "image_text": ({"name": "clip", "embed_dim": 8, "text_encoder": _TEXT_ENCODER}, {"name": "convnet"}),
}
# A value other than the default for every `data` key.
_VALUES = {"path": "somewhere", "image_size": [8, 8], "channels": 1, "on_error": "raise", "min_gold": 3.0,
           "hard_negatives": 1, "mine_margin": 0.1, "low_gold_negatives": 1.0}  # fmt: skip


def _spec(kind):
    return f"{kind.prefix}:x" if kind.argument else kind.prefix


def _recipe(kind, **data):
    method, encoder = _METHODS[kind.modality]
    return {"method": dict(method), "encoder": dict(encoder), "data": {"source": _spec(kind), **data}}


def _ignored_by_modality(kind, key):
    """Keys no source of the modality reads (`recipes` says why by the modality, before the source)."""
    return not any(key in other.keys for other in sources.kinds(kind.modality))


def test_every_data_key_has_a_value_here():
    assert set(_VALUES) == set(recipes._SCHEMA["data"]) - {"source"}


@pytest.mark.parametrize("kind", sources.kinds(), ids=lambda k: f"{k.modality}-{k.prefix}")
def test_every_declared_source_validates_its_keys(kind):
    assert kind.modality in sources.MODALITIES and kind.summary
    assert set(kind.keys) <= set(_VALUES), f"{kind.prefix} declares keys the recipe schema lacks"
    # The keys it reads are accepted (mine_margin with hard negatives on, as it is read then).
    for key in kind.keys:
        extra = {"hard_negatives": 1} if key == "mine_margin" else {}
        recipe = recipes.validate(_recipe(kind, **{key: _VALUES[key]}, **extra), check_paths=False)
        assert recipe["data"][key] == _VALUES[key]
    # Any other key is an error naming the key and every key this source reads.
    for key in sorted(set(_VALUES) - set(kind.keys)):
        with pytest.raises(recipes.RecipeError) as info:
            recipes.validate(_recipe(kind, **{key: _VALUES[key]}), check_paths=False)
        message = str(info.value)
        assert message.startswith(f"data.{key}: ") and "would be ignored" in message
        if not _ignored_by_modality(kind, key):
            assert f"data.source {kind.form} reads" in message
            for read in kind.keys:
                assert f"data.{read}" in message, (read, message)


def test_unknown_key_names_the_source_keys():
    with pytest.raises(recipes.RecipeError) as info:
        recipes.validate({"data": {"source": "folder:x", "min_gold": 3.0}}, check_paths=False)
    assert str(info.value).startswith(
        "data.min_gold: 3.0 would be ignored by this data source: read by data.source stsb:PATH only; "
        "data.source folder:PATH reads data.image_size, data.channels, data.on_error."
    )


def test_one_parser_and_its_errors():
    spec = sources.parse("folder:photos", "image")
    assert (spec.kind.prefix, spec.kind.modality, spec.argument, str(spec)) == ("folder", "image", "photos",
                                                                               "folder:photos")  # fmt: skip
    # One prefix, two modalities: the modality asked for decides.
    assert sources.parse("folder:photos", "image_text").kind.keys == ("path", "image_size", "on_error")
    assert sources.parse("folder:photos", ("image_text", "image")).kind.modality == "image_text"
    # data.path stands for the file where the source says so, never for an image folder.
    assert sources.parse("stsb", "text", path="sts-train.csv").argument == "sts-train.csv"
    with pytest.raises(sources.SourceError, match="folder needs a path: write folder:PATH. Accepted image"):
        sources.parse("folder", "image", path="photos")
    assert sources.parse("wordnet", "text").argument is None
    assert sources.parse("pairs.TSV", "image_text").kind.prefix == "manifest"
    with pytest.raises(sources.SourceError) as info:
        sources.parse("cifar10", "image")
    assert str(info.value) == f"Unknown data spec 'cifar10'. Accepted image sources: {sources.help_text('image')}."
    with pytest.raises(sources.SourceError, match="emoji takes no argument"):
        sources.parse("emoji:x", "image_text")
    assert sources.find("stsb:x", "image") is None and sources.find("stsb:x").modality == "text"


def test_in_memory_only_for_the_small_built_in_sets():
    in_memory = {(k.modality, k.prefix) for k in sources.kinds() if k.in_memory}
    assert {p for m, p in in_memory if m == "image"} == {"fashion_mnist", "fashion_mnist_subset", "npz"}
    for kind in sources.kinds():
        assert (kind.load is not None) or (kind.open is not None), kind.prefix
        if kind.streaming:
            assert kind.open is not None, kind.prefix


def test_one_list_of_image_extensions():
    from keras_contrastive.data import image_source, image_text
    from keras_contrastive.runs import embeddings

    for module in (image_source, image_text, embeddings):
        assert module.IMAGE_EXTENSIONS is sources.IMAGE_EXTENSIONS
