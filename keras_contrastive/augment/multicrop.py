"""Multi-crop views (SwAV): a few large crops and several small, cheaper ones."""

from keras_contrastive.augment.simclr_augmentation import SimCLRAugmentation


def _size(value):
    if isinstance(value, int):
        return (value, value)
    size = tuple(int(v) for v in value)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"a crop size must be an int or (height, width) > 0; received {value!r}.")
    return size


def multi_crop_views(
    image_size,
    num_large_crops=2,
    num_small_crops=4,
    small_size=None,
    large_scale=(0.14, 1.0),
    small_scale=(0.05, 0.14),
    seed=None,
    **augmentation,
):
    """The view augmentations of multi-crop: large crops first, then small ones.

    SwAV (Caron et al., 2020, https://arxiv.org/abs/2006.09882, section 3.2):
    two crops at the full resolution covering a large part of the image and
    `V` crops at a low resolution covering small parts; every crop also gets
    the rest of the SimCLR augmentation (flip, colour jitter, ...). The small
    crops cost little (a quarter of the pixels at half the side) and add
    local-to-global comparisons. The list goes to
    `keras_contrastive.data.pretrain_dataset`; a method then batches the
    crops of each resolution through its encoder in one call.

    Args:
        image_size: int or tuple of 2 ints. `(height, width)` of the large
            crops.
        num_large_crops: int. Number of large crops. Defaults to `2`.
        num_small_crops: int. Number of small crops. Defaults to `4`.
        small_size: int or tuple of 2 ints or None. Size of the small crops;
            `None` is about 4/7 of `image_size` (SwAV: 96 for 224). Defaults
            to `None`.
        large_scale: tuple of 2 floats. Area range of the large crops, as a
            fraction of the image. Defaults to `(0.14, 1.0)`.
        small_scale: tuple of 2 floats. Area range of the small crops.
            Defaults to `(0.05, 0.14)`.
        seed: int or None. Crop `i` (0-based, large crops first) is seeded
            `seed + 1000 * (i + 1)`. Defaults to `None`.
        **augmentation: further `SimCLRAugmentation` arguments shared by all
            crops (`crop_ratio`, `horizontal_flip`, `jitter_strength`,
            `blur_probability`, ...).

    Returns:
        A list of `num_large_crops + num_small_crops` callables.

    Example:

    >>> views = multi_crop_views(28, num_small_crops=3, small_size=14, seed=0)
    >>> [tuple(v(np.zeros((2, 28, 28, 1), "float32")).shape) for v in views]
    [(2, 28, 28, 1), (2, 28, 28, 1), (2, 14, 14, 1), (2, 14, 14, 1), (2, 14, 14, 1)]
    """
    if int(num_large_crops) < 0 or int(num_small_crops) < 0 or int(num_large_crops) + int(num_small_crops) < 1:
        raise ValueError(
            f"multi_crop_views needs at least one crop, received num_large_crops={num_large_crops}, "
            f"num_small_crops={num_small_crops}."
        )
    for key in ("image_size", "crop_scale", "crop_size", "seed", "name"):
        if key in augmentation:
            raise ValueError(
                f"multi_crop_views sets {key!r} itself; use image_size/small_size and large_scale/small_scale."
            )
    large = _size(image_size)
    small = _size(small_size) if small_size is not None else tuple(max(1, round(s * 4 / 7)) for s in large)
    crops = [("large", large, large_scale)] * int(num_large_crops) + [("small", small, small_scale)] * int(
        num_small_crops
    )
    views = []
    for i, (kind, size, scale) in enumerate(crops):
        views.append(
            SimCLRAugmentation(
                image_size=size,
                crop_scale=tuple(scale),
                seed=None if seed is None else seed + 1000 * (i + 1),
                name=f"{kind}_crop_{i + 1}",
                **augmentation,
            )
        )
    return views
