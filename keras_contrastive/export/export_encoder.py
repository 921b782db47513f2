"""Export an encoder as a versioned SavedModel for TensorFlow Serving."""

import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive.export.layout import next_version

SERVING_DEFAULT = "serving_default"
SERVE_IMAGE_BYTES = "serve_image_bytes"


def _resolve_image_shape(encoder, image_shape):
    known = None
    input_shape = getattr(encoder, "input_shape", None)
    if isinstance(input_shape, (tuple, list)) and len(input_shape) == 4:
        if all(isinstance(d, int) for d in input_shape[1:]):
            known = tuple(int(d) for d in input_shape[1:])
    if image_shape is None:
        if known is None:
            raise ValueError(
                "Cannot tell the encoder's image shape: its input shape is "
                f"{input_shape}. Pass `image_shape=(height, width, channels)`."
            )
        image_shape = known
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(
            f"`image_shape` must be (height, width, channels) with positive sizes. Received {image_shape}."
        )
    if known is not None and known != image_shape:
        raise ValueError(f"`image_shape={image_shape}` does not match the encoder's input shape {known}.")
    if image_shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"Images must have 1, 3 or 4 channels to be decoded from PNG or JPEG. Received image_shape={image_shape}."
        )
    return image_shape


def _check_finite_weights(encoder):
    for variable in encoder.weights:
        value = keras.ops.convert_to_numpy(variable)
        if not np.all(np.isfinite(value)):
            name = getattr(variable, "path", None) or variable.name
            raise ValueError(
                f"Refusing to export: variable '{name}' contains NaN or "
                "infinite values (training diverged). Train again with a lower "
                "optimizer.learning_rate (or a longer warm-up) into a new "
                "--output directory; the run's backup/ holds its last good checkpoint."
            )


def _existing_version_error(path):
    return FileExistsError(
        f"SavedModel version directory '{path}' already exists; it was left "
        "untouched. Pass another --version (or version=None for the next "
        "free one)."
    )


def _write_assets(assets_dir, assets):
    for relative, content in assets.items():
        relative = os.path.normpath(str(relative))
        if os.path.isabs(relative) or relative.split(os.sep)[0] in ("..", "."):
            raise ValueError(f"Asset names must be relative paths inside the assets directory. Received '{relative}'.")
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, bytes):
            raise ValueError(f"Asset '{relative}' must be str or bytes. Received {type(content).__name__}.")
        path = os.path.join(assets_dir, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)


def _build_archive(encoder, image_shape):
    height, width, channels = image_shape

    def embed(images):
        return {"embedding": encoder(images, training=False)}

    def decode_one(encoded):
        image = tf.io.decode_image(encoded, channels=channels, dtype=tf.uint8, expand_animations=False)
        # Plain float32 division: bit-identical to `uint8_images / 255` in
        # NumPy float32, so both endpoints agree exactly on the same pixels.
        image = tf.cast(image, tf.float32) / 255.0
        size = tf.shape(image)[:2]
        image = tf.cond(
            tf.reduce_all(tf.equal(size, [height, width])),
            lambda: image,
            lambda: tf.image.resize(image, (height, width), method="bilinear"),
        )
        return tf.ensure_shape(image, image_shape)

    def serving_default(images):
        # uint8 pixels sent as numbers are cast to float32 silently by the
        # signature: catch them here rather than serve wrong embeddings.
        pixels = "images must be float32 pixels in [0, 1]: divide uint8 pixels by 255 before sending them"
        checks = [
            tf.debugging.assert_less_equal(images, 1.0, message=pixels),
            tf.debugging.assert_greater_equal(images, 0.0, message=pixels),
        ]
        with tf.control_dependencies(checks):
            return embed(tf.identity(images))

    def serve_image_bytes(image_bytes):
        images = tf.map_fn(
            decode_one,
            image_bytes,
            fn_output_signature=tf.TensorSpec(image_shape, tf.float32),
        )
        return embed(images)

    archive = keras.export.ExportArchive()
    # Not archive.track(encoder): the endpoints capture its variables already, and tracking the Keras model
    # as well saved every weight twice (Keras 3.15: its KerasVariables and their tf.Variables), doubling the size.
    # The Python argument names become the signature input names.
    archive.add_endpoint(
        name=SERVING_DEFAULT,
        fn=serving_default,
        input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name="images")],
    )
    archive.add_endpoint(
        name=SERVE_IMAGE_BYTES,
        fn=serve_image_bytes,
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    return archive


def write_archive(archive, base_dir, *, version=None, assets=None, overwrite=False):
    """Writes a `keras.export.ExportArchive` as `base_dir/<version>/`, atomically.

    The SavedModel goes to a hidden sibling directory
    `base_dir/.tmp-<version>-<pid>` (ignored by TF Serving, which only loads
    integer directories), the assets are added, and the directory is renamed
    into place, so a server never sees a half-written version. On any error
    the temporary directory is removed and an existing version is kept.

    Args:
        archive: `keras.export.ExportArchive`, its endpoints added.
        base_dir: str. Model directory, created if missing.
        version: int or `None`. `None` = one more than the largest existing
            integer version, or `1`. Defaults to `None`.
        assets: dict or `None`. `{relative_filename: str or bytes}` written
            under `<version>/assets/`. Defaults to `None`.
        overwrite: bool. Replace an existing version. Defaults to `False`,
            in which case an existing version raises `FileExistsError`.

    Returns:
        The version directory, as a str.
    """
    base_dir = os.fspath(base_dir)
    os.makedirs(base_dir, exist_ok=True)
    if version is None:
        version = next_version(base_dir)
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise ValueError(f"`version` must be an int >= 0 or None. Received {version!r}.")
    version = int(version)
    final_dir = os.path.join(base_dir, str(version))
    if os.path.lexists(final_dir) and not overwrite:
        raise _existing_version_error(final_dir)
    tmp_dir = os.path.join(base_dir, f".tmp-{version}-{os.getpid()}")
    old_dir = os.path.join(base_dir, f".old-{version}-{os.getpid()}")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    try:
        archive.write_out(tmp_dir, verbose=False)
        assets_dir = os.path.join(tmp_dir, "assets")
        os.makedirs(assets_dir, exist_ok=True)
        _write_assets(assets_dir, assets or {})
        if overwrite and os.path.lexists(final_dir):
            os.rename(final_dir, old_dir)
            try:
                os.rename(tmp_dir, final_dir)
            except BaseException:
                os.rename(old_dir, final_dir)
                raise
            shutil.rmtree(old_dir)
        else:
            # Re-check right before the rename: Linux `rename` would silently
            # replace an *empty* directory created meanwhile.
            if os.path.lexists(final_dir):
                raise _existing_version_error(final_dir)
            try:
                os.rename(tmp_dir, final_dir)
            except OSError as error:
                if os.path.lexists(final_dir):
                    raise _existing_version_error(final_dir) from error
                raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return final_dir


def export_encoder(encoder, base_dir, *, version=None, image_shape=None, assets=None, overwrite=False):
    """Write `encoder` as SavedModel `base_dir/<version>/` for TF Serving.

    Two signatures are exported:

    - `serving_default`: input `images`, float32 `[None, H, W, C]` with
      values in `[0, 1]` (uint8 pixels divided by 255) → output `embedding`,
      float32 `[None, D]`.
    - `serve_image_bytes`: input `image_bytes`, string `[None]` of encoded
      PNG or JPEG images → each is decoded to `C` channels, scaled to
      `[0, 1]`, resized bilinearly to `(H, W)` when its size differs → output
      `embedding`, float32 `[None, D]`.

    Written atomically by `write_archive`: a server never sees a
    half-written version.

    Args:
        encoder: `keras.Model`. Maps float32 images in `[0, 1]`
            `[B, H, W, C]` to features `[B, D]`.
        base_dir: str. Model directory, e.g.
            `savedmodels/simclr_fashion_mnist`. Created if missing.
        version: int or `None`. Version directory name; `None` picks one more
            than the largest existing integer version, or `1`. Defaults to
            `None`.
        image_shape: tuple `(H, W, C)` or `None`. Needed when the encoder's
            input shape is not fully known. Defaults to `None`.
        assets: dict or `None`. `{relative_filename: str or bytes}` written
            under `<version>/assets/`, e.g. `recipe.yaml`, `metrics.json`.
            Defaults to `None`.
        overwrite: bool. Replace an existing version directory. Defaults to
            `False`, in which case an existing version raises
            `FileExistsError` and is left untouched.

    Returns:
        The path of the version directory, as a str.

    Example:

    >>> import keras, tempfile
    >>> encoder = keras.Sequential(
    ...     [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)]
    ... )
    >>> base_dir = tempfile.mkdtemp()
    >>> path = export_encoder(encoder, base_dir, assets={"notes.txt": "demo"})
    >>> os.path.basename(path)
    '1'
    """
    image_shape = _resolve_image_shape(encoder, image_shape)
    _check_finite_weights(encoder)
    return write_archive(
        _build_archive(encoder, image_shape), base_dir, version=version, assets=assets, overwrite=overwrite
    )


def load_exported(path):
    """Load an exported SavedModel (`tf.saved_model.load`)."""
    return tf.saved_model.load(os.fspath(path))


def embed_images(path_or_loaded, images):
    """Embeddings of `images` from an export's `serving_default` signature,
    after checking them against it (a clear error instead of TensorFlow's).

    Args:
        path_or_loaded: str or loaded SavedModel. A version directory written
            by `export_encoder`, or the result of `load_exported`.
        images: array `[batch, H, W, C]` of float pixels in `[0, 1]`.

    Returns:
        A float32 numpy array `[batch, D]`.
    """
    if isinstance(path_or_loaded, (str, os.PathLike)):
        path_or_loaded = load_exported(path_or_loaded)
    signature = path_or_loaded.signatures[SERVING_DEFAULT]
    expected = tuple(signature.structured_input_signature[1]["images"].shape[1:])
    wanted = f"float32 [batch, {', '.join(map(str, expected))}] in [0, 1]"
    images = np.asarray(images)
    if images.dtype.kind in "iub":
        raise ValueError(
            f"The SavedModel takes {wanted}; received {images.dtype} pixels. Pass images.astype('float32') / 255."
        )
    if images.dtype.kind != "f":
        raise ValueError(f"The SavedModel takes {wanted}; received dtype {images.dtype}. Convert them to float32.")
    if images.shape == expected:
        raise ValueError(
            f"The SavedModel takes {wanted}; received one image {images.shape}. Add a batch axis: images[None]."
        )
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(
            f"The SavedModel takes {wanted}; received shape {images.shape}. Resize the images to "
            f"{expected[0]}x{expected[1]} with {expected[2]} channel(s), as in training."
        )
    return signature(images=tf.constant(images, tf.float32))["embedding"].numpy()


def exported_signatures(path_or_loaded):
    """The serving signatures of an export, as `{name: ConcreteFunction}`.

    Args:
        path_or_loaded: str or loaded SavedModel. A version directory written
            by `export_encoder`, or the result of `load_exported`.

    Example:

    >>> signatures = exported_signatures(path)  # doctest: +SKIP
    >>> signatures["serving_default"](images=batch)["embedding"]  # doctest: +SKIP
    """
    if isinstance(path_or_loaded, (str, os.PathLike)):
        path_or_loaded = load_exported(path_or_loaded)
    return dict(path_or_loaded.signatures)
