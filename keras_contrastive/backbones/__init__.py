"""Encoders built from explicit arguments, and a name -> builder registry for
recipes. Any `keras.Model` mapping images to `[B, D]` features is accepted by
the methods as `encoder`."""

import functools

import keras

from keras_contrastive.backbones.conv_net import ConvNet
from keras_contrastive.backbones.resnet import ResNet, ResNet18, ResNet34, ResNet50

BACKBONES = {
    "convnet": ConvNet,
    "resnet18": functools.partial(ResNet, depth=18),
    "resnet34": functools.partial(ResNet, depth=34),
    "resnet50": functools.partial(ResNet, depth=50),
}


def backbone_builder(name):
    if name == "resnet":
        return ResNet
    if name not in BACKBONES:
        raise ValueError(
            f"Unknown encoder {name!r}. Use one of {sorted(BACKBONES)} or "
            "'keras.applications.<Name>' (for example 'keras.applications.MobileNetV3Small')."
        )
    return BACKBONES[name]


def build_backbone(name, input_shape, **kwargs):
    """Builds the encoder `name` for images of `input_shape`.

    Args:
        name: str. One of `convnet`, `resnet18`, `resnet34`, `resnet50`, or
            `keras.applications.<Name>` (built with `weights=None`,
            `include_top=False`, average pooling: no download).
        input_shape: tuple. `(height, width, channels)`.
        **kwargs: the builder's own arguments (see `backbone_arguments`).
    """
    if name.startswith("keras.applications."):
        attr = name.split(".", 2)[2]
        builder = getattr(keras.applications, attr, None)
        if builder is None:
            raise ValueError(f"Unknown encoder {name!r}: keras.applications has no {attr!r}.")
        return builder(include_top=False, weights=None, input_shape=tuple(input_shape), **{"pooling": "avg", **kwargs})
    return backbone_builder(name)(input_shape=tuple(input_shape), **kwargs)


__all__ = ["ConvNet", "ResNet", "ResNet18", "ResNet34", "ResNet50", "build_backbone", "BACKBONES"]
