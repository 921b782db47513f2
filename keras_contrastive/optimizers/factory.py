"""The optimizer and learning-rate schedule of a recipe's `optimizer` section."""

import keras

from keras_contrastive.optimizers.lars import LARS
from keras_contrastive.optimizers.schedules import WarmupCosine

# What a recipe's `optimizer.name` and `optimizer.schedule` accept (`recipes` validates against these).
OPTIMIZERS = ("adamw", "adam", "sgd", "lars")
SCHEDULES = ("warmup_cosine", "constant")


def build_optimizer(recipe, steps_per_epoch):
    """The optimizer and learning-rate schedule of the recipe's `optimizer` section (recipe validation
    refuses keys the chosen optimizer and schedule would ignore)."""
    cfg, epochs = recipe["optimizer"], recipe["train"]["epochs"]
    total = max(1, epochs * steps_per_epoch)
    rate = cfg["learning_rate"]
    if cfg["schedule"] == "warmup_cosine":
        warmup = min(total, int(round(cfg["warmup_epochs"] * steps_per_epoch)))
        rate = WarmupCosine(cfg["learning_rate"], total_steps=total, warmup_steps=warmup)
    name = cfg["name"]
    if name == "lars":
        return LARS(rate, momentum=cfg["momentum"], weight_decay=cfg["weight_decay"], eta=cfg["eta"])
    if name == "sgd":
        opt = keras.optimizers.SGD(rate, momentum=cfg["momentum"], weight_decay=cfg["weight_decay"] or None)
    elif name == "adamw":
        opt = keras.optimizers.AdamW(rate, weight_decay=cfg["weight_decay"])
    else:
        opt = keras.optimizers.Adam(rate)
    if name in ("sgd", "adamw") and cfg["weight_decay"]:
        # No decay on biases and normalisation parameters (SimCLR appendix B.1).
        opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return opt
