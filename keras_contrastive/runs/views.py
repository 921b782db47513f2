"""The image views a recipe's `augment` section configures, shared by the image and image-text tasks."""

from keras_contrastive import augment, recipes


def simclr_view(recipe, image_shape, blur_probability, solarize_probability, seed=None, name="view"):
    """One `SimCLRAugmentation` with the recipe's crop, flip and colour settings."""
    cfg = recipe["augment"]
    return augment.SimCLRAugmentation(
        image_size=tuple(image_shape[:2]),
        crop_scale=tuple(cfg["crop_scale"]),
        crop_ratio=tuple(cfg["crop_ratio"]),
        horizontal_flip=cfg["horizontal_flip"],
        jitter_strength=cfg["jitter_strength"],
        jitter_probability=cfg["jitter_probability"],
        grayscale_probability=cfg["grayscale_probability"],
        blur_probability=blur_probability,
        solarize_probability=solarize_probability,
        seed=seed,
        name=name,
    )


def build_views(recipe, image_shape, seed=None):
    """The two SimCLR-style view augmentations configured by `augment`, then
    `small_crops` small crops (multi-crop: SwAV, DINO)."""
    cfg = recipe["augment"]

    def per_view(key, i):
        value = cfg[key]
        if not isinstance(value, list):
            return value
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise recipes.RecipeError(
                f"augment.{key}: expected a number or a list of 2 numbers (one per view), got {value!r}."
            )
        return float(value[i])

    views = [
        simclr_view(
            recipe,
            image_shape,
            blur_probability=per_view("blur_probability", i),
            solarize_probability=per_view("solarize_probability", i),
            seed=None if seed is None else seed + 1000 * (i + 1),
            name=f"view_{i + 1}",
        )
        for i in range(2)
    ]
    if cfg["small_crops"]:
        # Small crops share the second view's blur and solarize settings.
        views += augment.multi_crop_views(
            tuple(image_shape[:2]),
            num_large_crops=0,
            num_small_crops=cfg["small_crops"],
            small_size=cfg["small_crop_size"],
            small_scale=tuple(cfg["small_crop_scale"]),
            seed=None if seed is None else seed + 2000,
            crop_ratio=tuple(cfg["crop_ratio"]),
            horizontal_flip=cfg["horizontal_flip"],
            jitter_strength=cfg["jitter_strength"],
            jitter_probability=cfg["jitter_probability"],
            grayscale_probability=cfg["grayscale_probability"],
            blur_probability=per_view("blur_probability", 1),
            solarize_probability=per_view("solarize_probability", 1),
        )
    return views
