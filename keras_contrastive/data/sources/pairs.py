"""Image-text (CLIP) sources: captioned image folders, manifests, and two offline Debian sets in memory."""

from keras_contrastive.data.sources import SourceKind

_HELD_OUT = "held_out_fraction (0.2) of the pairs by a hash of each pair's key"


def _in_memory(spec, image_size=(64, 64), held_out_fraction=0.2):
    from keras_contrastive.data import image_text

    loaders = {"emoji": image_text.load_emoji, "tuxpaint": image_text.load_tuxpaint}
    names = spec.kind.prefix.split("+")
    parts = [loaders[n](image_size, held_out_fraction=held_out_fraction) for n in names]
    return parts[0] if len(parts) == 1 else image_text.concatenate_pairs(parts, spec.kind.prefix)


def _folder(spec, held_out_fraction=0.2):
    from keras_contrastive.data import image_text

    return image_text.list_image_text_folder(spec.argument, held_out_fraction)


def _manifest(spec, held_out_fraction=0.2):
    from keras_contrastive.data import image_text

    return image_text.list_image_text_manifest(spec.argument, held_out_fraction, check_files=False)


def _load_listed(spec, image_size=(64, 64), held_out_fraction=0.2):
    from keras_contrastive.data import image_text

    if spec.kind.prefix == "manifest":
        listing = image_text.list_image_text_manifest(spec.argument, held_out_fraction)
    else:
        listing = spec.kind.open(spec, held_out_fraction=held_out_fraction)
    return image_text.load_listing(listing, image_size)


_STREAMED = ("path", "image_size", "on_error")

KINDS = (
    SourceKind(
        "emoji", "image_text", "Unicode's emoji rendered with Noto Color Emoji, labelled by group",
        keys=("image_size",), in_memory=True, split=_HELD_OUT, load=_in_memory,
    ),
    SourceKind(
        "tuxpaint", "image_text", "Tux Paint's captioned stamps (Debian tuxpaint-stamps-default)",
        keys=("image_size",), in_memory=True, split=_HELD_OUT, load=_in_memory,
    ),
    SourceKind(
        "emoji+tuxpaint", "image_text", "both", keys=("image_size",), in_memory=True, split=_HELD_OUT,
        load=_in_memory,
    ),
    SourceKind(
        "folder", "image_text", "images with a sidecar .txt caption (found recursively)", keys=_STREAMED,
        argument="PATH", path_is_argument=True, split=_HELD_OUT, load=_load_listed, open=_folder,
    ),
    SourceKind(
        "manifest", "image_text", "a CSV (.csv) or TSV with the columns image, caption (, split)",
        keys=_STREAMED, argument="PATH", path_is_argument=True, split=f"its split column, else {_HELD_OUT}",
        load=_load_listed, open=_manifest, suffixes=(".csv", ".tsv"),
    ),
)  # fmt: skip
