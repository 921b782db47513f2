"""Text encoders by name: MiniLM from local files, the small from-scratch encoder, remote presets refused."""

import time

import pytest

from keras_contrastive.text import build_text_encoder, minilm_preset_dir, resolve_preset


@pytest.mark.parametrize(
    "preset", ["bert_base_en_uncased", "kaggle://keras/bert/keras/bert_tiny_en_uncased/2", "hf://google/bert"]
)
def test_presets_that_would_download_fail_fast_with_a_clear_message(preset):
    start = time.perf_counter()
    with pytest.raises(ValueError, match="would be downloaded.*local directory|not a local directory"):
        build_text_encoder("bert_preset", preset=preset)
    assert time.perf_counter() - start < 2.0  # no network attempt


def test_missing_or_bad_local_presets(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        resolve_preset(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="no config.json"):
        resolve_preset(str(tmp_path))
    with pytest.raises(ValueError, match="Unknown text encoder 'gpt'"):
        build_text_encoder("gpt")


def test_small_transformer_defaults_stay_under_10m_parameters():
    encoder = build_text_encoder("small_transformer")
    assert 5_000_000 < encoder.count_params() <= 10_000_000
    assert encoder.tokenizer.vocabulary_size == 30522 and encoder.output_shape == (None, None, 192)


def test_minilm_loads_from_the_installed_folder():
    try:
        path = minilm_preset_dir()
    except ValueError as e:
        pytest.skip(str(e))
    from keras_contrastive.models import SimCSE

    encoder = build_text_encoder("minilm", sequence_length=32)
    assert encoder.count_params() == 22_713_216 and encoder.backbone.dropout == 0.1
    assert resolve_preset(path) == path
    model = SimCSE(encoder, pooling="mean")
    a, b, c = model.encode(["A man is playing a guitar.", "A person plays the guitar.", "The stock market fell."])
    assert float(a @ b) > 0.7 > float(a @ c)  # pre-trained: paraphrases close, unrelated far
