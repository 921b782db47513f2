"""Decoding encoded images in the `tf.data` graph, crop first.

The random resized crop of SimCLR's views is drawn on the *encoded* image's shape and only that region is
decoded (SimCLR's TF input pipeline, `data_util.py`; the Inception / TF ResNet ImageNet preprocessing): for a
JPEG, `tf.image.stateless_sample_distorted_bounding_box` on the shape read from its header
(`tf.io.extract_jpeg_shape`), then `tf.io.decode_and_crop_jpeg`, then the resize to the view's size. So a
crop is always taken on the full-resolution original, and the pixels outside every crop are never decoded.

Two refinements of that recipe, each exact up to JPEG rounding:

- the views of one image (two for SimCLR, more for multi-crop) are cut from one decode of the smallest
  window that holds all their boxes, instead of one decode per view (a JPEG's entropy decoding dominates the
  cost, and it is shared);
- when every box is at least 2, 4 or 8 times its view's size, the JPEG is decoded at 1/2, 1/4 or 1/8 scale
  (libjpeg's DCT scaling, `ratio=`), which skips most of the inverse DCT: a 400 px photo cropped to a 96 px
  view decodes at a quarter of the cost.

Other formats (PNG, BMP, GIF's first frame) are decoded whole, then cut by the same boxes. Any mode (grey,
grey + alpha, RGB, RGBA, palette) becomes the requested channel count: transparency is composited on white,
colour becomes grey by ITU-R 601 luma, grey is repeated to RGB.
"""

import tensorflow as tf

_RATIOS = (1, 2, 4, 8)


def _to_channels(image, channels):
    """uint8 `[h, w, c]` with c in 1..4 (grey, grey + alpha, RGB, RGBA) -> float32 `[h, w, channels]`,
    alpha composited on white."""
    image = tf.cast(image, tf.float32)
    c = tf.shape(image)[-1]
    grey_alpha = tf.concat([tf.repeat(image[..., :1], 3, axis=-1), image[..., -1:]], axis=-1)
    opaque = tf.fill(tf.concat([tf.shape(image)[:2], [1]], 0), 255.0)
    rgba = tf.switch_case(
        tf.clip_by_value(c - 1, 0, 3),
        [
            lambda: tf.concat([tf.repeat(image[..., :1], 3, axis=-1), opaque], axis=-1),
            lambda: grey_alpha,
            lambda: tf.concat([image[..., :3], opaque], axis=-1),
            lambda: image[..., :4],
        ],
    )
    alpha = rgba[..., 3:] / 255.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    if channels == 1:
        return tf.image.rgb_to_grayscale(rgb)
    return rgb


def _bmp_colours(encoded, image):
    """TF's BMP decoder reads an 8-bit BMP's palette indices as grey values and a 32-bit BMP's padding byte
    as alpha: look the indices up in the palette, drop the fourth byte (BMP has no alpha)."""
    header = tf.io.decode_raw(tf.strings.substr(encoded, 14, 4), tf.int32)[0]
    bits = tf.io.decode_raw(tf.strings.substr(encoded, 28, 2), tf.uint16)[0]

    def palette_lookup():
        start = 14 + header
        table = tf.io.decode_raw(tf.strings.substr(encoded, start, 1024), tf.uint8)
        table = tf.reshape(table[: (tf.size(table) // 4) * 4], [-1, 4])[:, 2::-1]  # BGRX -> RGB
        index = tf.minimum(tf.cast(image[..., 0], tf.int32), tf.shape(table)[0] - 1)
        return tf.gather(table, index)

    c = tf.shape(image)[-1]
    return tf.case(
        [(tf.logical_and(c == 1, bits == 8), palette_lookup), (c == 4, lambda: image[..., :3])],
        default=lambda: image,
    )


def _decode_other(encoded, channels):
    """A PNG, BMP or GIF (first frame) as float32 `[H, W, channels]` in `[0, 255]`."""
    image = tf.io.decode_image(encoded, expand_animations=False)
    is_bmp = tf.equal(tf.strings.substr(encoded, 0, 2), "BM")
    image = tf.cond(is_bmp, lambda: _bmp_colours(encoded, image), lambda: image)
    return _to_channels(image, channels)


def _check_channels(channels):
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB); received {channels!r}.")


def encoded_shape(encoded):
    """`[height, width]` (int32) of an encoded image: from the header for a JPEG, else by decoding it."""
    return tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.io.extract_jpeg_shape(encoded)[:2],
        lambda: tf.shape(tf.io.decode_image(encoded, expand_animations=False))[:2],
    )


def sample_crop_box(shape, scale, ratio, seed):
    """A random resized crop's box `(y, x, h, w)` in pixels (int32) of an image of `shape` `[H, W]`:
    `tf.image.stateless_sample_distorted_bounding_box` with area fraction in `scale`, width / height in
    `ratio` and SimCLR's settings (`min_object_covered=0.1`, 100 attempts, else the whole image)."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.concat([shape, [1]], 0),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.1,
        aspect_ratio_range=tuple(ratio),
        area_range=tuple(scale),
        max_attempts=100,
        use_image_if_no_bounding_boxes=True,
    )
    return tf.stack([begin[0], begin[1], size[0], size[1]])


def centre_box(shape):
    """The centred square box `(y, x, s, s)` of side `min(H, W)`: resize the shorter side, centre crop."""
    side = tf.minimum(shape[0], shape[1])
    return tf.stack([(shape[0] - side) // 2, (shape[1] - side) // 2, side, side])


def _dct_ratio(boxes, sizes):
    """The largest of 1, 2, 4, 8 by which every box is at least its view's size (index into `_RATIOS`)."""
    factors = []
    for box, (height, width) in zip(boxes, sizes):
        factors.append(tf.minimum(box[2] // height, box[3] // width))
    smallest = tf.reduce_min(tf.stack(factors))
    return tf.reduce_sum(tf.cast(smallest >= tf.constant(_RATIOS[1:]), tf.int32))


def crop_resize(encoded, boxes, sizes, channels, flips=None, dct_scaling=True):
    """The crops `boxes` of an encoded image resized to `sizes`, as float32 images in `[0, 1]` with
    `channels` channels; crop `i` flipped left-right where `flips[i]`.

    A JPEG's crops are decoded from the smallest window holding every box (`tf.io.decode_and_crop_jpeg`),
    at 1/2, 1/4 or 1/8 scale when every box allows it (`dct_scaling`); other formats are decoded whole,
    once. Each crop is then resized bilinearly (`tf.image.crop_and_resize`).

    Args:
        encoded: scalar string tensor. A JPEG, PNG, BMP or GIF file's bytes.
        boxes: list of int32 `[4]` tensors `(y, x, h, w)` in pixels, within the image; or a function
            `shape -> list of boxes` of the image's `[H, W]` (the boxes are then drawn on the encoded
            shape: a JPEG's header, another format's decoded image).
        sizes: list of `(height, width)`. Output size of each crop.
        channels: int. 1 or 3.
        flips: list of bool scalars or None. Defaults to `None` (no flip).
        dct_scaling: bool. Decode a JPEG at a reduced scale where every crop allows it. Defaults to `True`.

    Returns:
        A tuple of float32 `[height_i, width_i, channels]` tensors.
    """
    _check_channels(channels)
    boxes_of = boxes if callable(boxes) else (lambda shape: boxes)
    sizes = [tuple(int(v) for v in s) for s in sizes]

    def jpeg():
        shape = tf.io.extract_jpeg_shape(encoded)[:2]
        cut = [tf.cast(b, tf.int32) for b in boxes_of(shape)]
        y0 = tf.reduce_min(tf.stack([b[0] for b in cut]))
        x0 = tf.reduce_min(tf.stack([b[1] for b in cut]))
        y1 = tf.reduce_max(tf.stack([b[0] + b[2] for b in cut]))
        x1 = tf.reduce_max(tf.stack([b[1] + b[3] for b in cut]))
        index = _dct_ratio(cut, sizes) if dct_scaling else tf.constant(0)

        def decode_at(r):
            def fn():
                # libjpeg's output at 1/r scale is ceil(H / r) x ceil(W / r); the window is in those pixels.
                top, left = y0 // r, x0 // r
                bottom = tf.minimum(-(-y1 // r), -(-shape[0] // r))
                right = tf.minimum(-(-x1 // r), -(-shape[1] // r))
                window = tf.stack([top, left, bottom - top, right - left])
                image = tf.io.decode_and_crop_jpeg(encoded, window, channels=channels, ratio=r)
                return image, tf.cast(tf.stack([top, left]) * r, tf.float32), float(r)

            return fn

        image, origin, r = tf.switch_case(index, [decode_at(r) for r in _RATIOS])
        return image, origin, r, tf.stack(cut)

    def other():
        # uint8 like a decoded JPEG (composited transparency and luma rounded to the nearest level).
        image = tf.cast(tf.round(_decode_other(encoded, channels)), tf.uint8)
        cut = [tf.cast(b, tf.int32) for b in boxes_of(tf.shape(image)[:2])]
        return image, tf.zeros([2], tf.float32), 1.0, tf.stack(cut)

    image, origin, r, cut = tf.cond(tf.io.is_jpeg(encoded), jpeg, other)
    image.set_shape([None, None, channels])
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    cut = tf.cast(cut, tf.float32)
    outputs = []
    for i, size in enumerate(sizes):
        # The box in the decoded window's pixels (scaled by 1/r, shifted by its origin): whole pixels at
        # full scale; at 1/r scale its edges may fall inside a pixel, which is then kept whole.
        box = cut[i]
        top = tf.clip_by_value(tf.cast(tf.floor((box[0] - origin[0]) / r), tf.int32), 0, height - 1)
        left = tf.clip_by_value(tf.cast(tf.floor((box[1] - origin[1]) / r), tf.int32), 0, width - 1)
        bottom = tf.clip_by_value(tf.cast(tf.math.ceil((box[0] + box[2] - origin[0]) / r), tf.int32), top + 1, height)
        right = tf.clip_by_value(tf.cast(tf.math.ceil((box[1] + box[3] - origin[1]) / r), tf.int32), left + 1, width)
        # Bilinear with half-pixel centres: output pixel i samples the box at (i + 0.5) * box / size. The
        # remaining scale is below 2 wherever DCT scaling applied, so no antialiasing is needed. From uint8,
        # float32 in [0, 255] (an interpolation stays within its neighbours).
        crop = tf.image.resize(image[top:bottom, left:right], size)
        if flips is not None:
            crop = tf.cond(flips[i], lambda c=crop: tf.reverse(c, [1]), lambda c=crop: c)
        outputs.append(crop * (1.0 / 255.0))
    return tuple(outputs)


def decode_image(encoded, channels):
    """The whole image as float32 `[H, W, channels]` in `[0, 1]` (no resize): for direct comparisons."""
    _check_channels(channels)
    image = tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.cast(tf.io.decode_jpeg(encoded, channels=channels), tf.float32),
        lambda: _decode_other(encoded, channels),
    )
    image.set_shape([None, None, channels])
    return image / 255.0


def centre_crop(encoded, size, channels):
    """The evaluation view: the centred square of side `min(H, W)` (resize the shorter side, centre crop),
    resized to `size`; float32 `[height, width, channels]` in `[0, 1]`."""
    return crop_resize(encoded, lambda shape: [centre_box(shape)], [tuple(size)], channels)[0]
