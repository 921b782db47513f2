"""The data sources: every kind of `data.source` declared once, and the one parser of source specs.

A spec is `PREFIX` or `PREFIX:ARGUMENT` (`fashion_mnist_subset`, `folder:photos`, `tfds:imagenet2012`,
`stsb:sts-train.csv`). Each kind of source is a `SourceKind`, declared in one module of this package
(`images`, `texts`, `pairs`, and one module per file format): its prefix, its modality (`"image"`, `"text"`
or `"image_text"`: the same prefix may mean different things to different modalities, `folder:` holds
class folders for an image method and captioned images for CLIP), the recipe `data` keys it reads, what its
argument is, whether it is read into memory (only the small built-in sets and `npz:`) or streamed, how its
test split is made, and the functions that read it. A module of this package that declares `KINDS` is found
by itself: adding a source touches only its own module.

    spec = sources.parse("folder:photos", "image")   # a `Spec`: its kind, its argument
    spec.kind.keys                                  # ('image_size', 'channels', 'on_error')

Recipe validation, the tasks, `embed`, `mine`, `evaluate --data` and the command line's help read this
registry; nothing else parses a spec.
"""

import dataclasses
import importlib
import os
import pkgutil

# The image files every image source reads (by extension, any case): what TF's `decode_image` decodes.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
MODALITIES = ("image", "text", "image_text")
_NAMES = {"image": "image", "text": "text", "image_text": "image-text"}

__all__ = ["IMAGE_EXTENSIONS", "MODALITIES", "SourceError", "SourceKind", "Spec", "find", "forms", "help_text",
           "kinds", "parse"]  # fmt: skip


class SourceError(ValueError):
    """A data spec that names no source, or lacks its argument: the message lists the accepted forms."""


@dataclasses.dataclass(frozen=True)
class SourceKind:
    """One kind of data source.

    Args:
        prefix: str. What a spec starts with (`folder`, `fashion_mnist_subset`).
        modality: str. `"image"`, `"text"` or `"image_text"`: the methods it feeds.
        summary: str. What it is, in a line (help and errors).
        keys: tuple of str. The recipe `data` keys it reads besides `source`; another one set is an error.
        argument: str. What follows the colon (`"PATH"`, `"NAME"`, `"GLOB"`, `"DIR"`), `""` for none.
        argument_required: bool. Whether the argument must be given. Defaults to `True`.
        path_is_argument: bool. `data.path` may stand for the argument (`source: stsb`, `path: FILE`).
        in_memory: bool. Read whole into memory (small data); else listed, then streamed.
        split: str. How its test (or held-out) split is made.
        load: callable or None. `(spec, **options)` -> the data in memory: `DataSplits` (image),
            columns of sentences (text), `ImageTextPairs` (image-text).
        open: callable or None. `(spec, **options)` -> the listed, streamed form: `ImageSource` (image),
            `TextFile` (text), `PairListing` (image-text).
        corpus: callable or None. Text: `(spec)` -> every distinct sentence (`embed`, `mine`).
        suffixes: tuple of str. A bare path ending so is read as this kind (`data.csv` as `manifest:`).
        options: tuple of str. The keyword arguments `load_data` takes for it.
    """

    prefix: str
    modality: str
    summary: str
    keys: tuple = ()
    argument: str = ""
    argument_required: bool = True
    path_is_argument: bool = False
    in_memory: bool = False
    split: str = ""
    load: object = None
    open: object = None
    corpus: object = None
    suffixes: tuple = ()
    options: tuple = ()

    @property
    def form(self):
        """How a spec of this kind is written: `folder:PATH`, `wordnet[:DIR]`, `emoji`."""
        if not self.argument:
            return self.prefix
        return f"{self.prefix}:{self.argument}" if self.argument_required else f"{self.prefix}[:{self.argument}]"

    @property
    def streaming(self):
        return not self.in_memory


@dataclasses.dataclass(frozen=True)
class Spec:
    """A parsed data spec: `kind` (a `SourceKind`), `argument` (str or None) and `text` (as written)."""

    kind: SourceKind
    argument: str
    text: str

    def __str__(self):
        return self.text


_KINDS = None


def kinds(modality=None):
    """The declared `SourceKind`s (of `modality`, or all), in their order of declaration."""
    global _KINDS
    if _KINDS is None:
        found = []
        for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: (m.name not in _BUILT_IN, m.name)):
            found.extend(getattr(importlib.import_module(f"{__name__}.{module.name}"), "KINDS", ()))
        seen = {}
        for kind in found:
            if kind.modality not in MODALITIES:
                raise ValueError(f"Source {kind.prefix!r}: modality {kind.modality!r} is not one of {MODALITIES}.")
            if (kind.modality, kind.prefix) in seen:
                raise ValueError(f"Source {kind.prefix!r} ({kind.modality}) is declared twice.")
            seen[(kind.modality, kind.prefix)] = kind
        _KINDS = tuple(found)
    return tuple(k for k in _KINDS if modality is None or k.modality == modality)


_BUILT_IN = ("images", "texts", "pairs")


def _modalities(modality):
    if modality is None:
        return MODALITIES
    return (modality,) if isinstance(modality, str) else tuple(modality)


def forms(modality=None):
    """The ways a spec of `modality` (a name, a tuple of them, or None: any) is written."""
    return list(dict.fromkeys(k.form for m in _modalities(modality) for k in kinds(m)))


def help_text(modality=None):
    """The accepted specs of `modality`, for the command line's help."""
    return ", ".join(forms(modality))


def _accepted(modality):
    names = " or ".join(_NAMES[m] for m in _modalities(modality))
    return f"Accepted {names} sources: {', '.join(forms(modality))}."


def find(spec, modality=None):
    """The `SourceKind` that `spec` names (first of the modalities in order), or None."""
    if isinstance(spec, Spec):
        return spec.kind
    text = os.fspath(spec) if not isinstance(spec, str) else spec
    prefix = text.partition(":")[0]
    for m in _modalities(modality):
        for kind in kinds(m):
            if kind.prefix == prefix:
                return kind
    for m in _modalities(modality):
        for kind in kinds(m):
            if kind.suffixes and ":" not in text and text.lower().endswith(kind.suffixes):
                return kind
    return None


def parse(spec, modality=None, path=None, what="data spec"):
    """The `Spec` of `spec` (a `Spec` is returned as it is).

    Args:
        spec: str. `PREFIX` or `PREFIX:ARGUMENT` (or a bare path a kind reads by its suffix).
        modality: str, tuple of str or None. Which sources to look in, in order (None: all).
        path: str or None. `data.path`: the argument of a kind whose `path_is_argument`, when the spec has
            none.
        what: str. How to name the spec in errors. Defaults to `"data spec"`.

    Raises:
        SourceError: `spec` names no source of `modality`, or lacks its argument; the message lists the
            accepted forms.
    """
    if isinstance(spec, Spec):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise SourceError(f"{what} must be a str; received {spec!r}. {_accepted(modality)}")
    text = os.fspath(spec)
    kind = find(text, modality)
    if kind is None:
        raise SourceError(f"Unknown {what} {text!r}. {_accepted(modality)}")
    prefix, colon, argument = text.partition(":")
    if kind.suffixes and prefix != kind.prefix:
        return Spec(kind, text, text)
    if not kind.argument:
        if colon:
            raise SourceError(f"{what} {text!r}: {kind.prefix} takes no argument (write {kind.form}).")
        return Spec(kind, None, text)
    if not argument and kind.path_is_argument and path:
        argument = os.fspath(path)
    if not argument and kind.argument_required:
        where = " or set data.path" if kind.path_is_argument else ""
        raise SourceError(
            f"{what} {text!r}: {kind.prefix} needs a {kind.argument.lower()}: write {kind.form}{where}. "
            f"{_accepted(modality)}"
        )
    return Spec(kind, argument or None, text)
