"""ResNet-18/34/50 encoders built from explicit arguments (no preset download).

He et al., 2016, https://arxiv.org/abs/1512.03385. `small_images=True` is the
CIFAR variant used by SimCLR (appendix B.9): a 3x3 stride-1 stem and no
max-pool, so 32x32 inputs keep spatial resolution.
"""

import keras
from keras import layers

from keras_contrastive.backbones.fused_batch_normalization import FusedBatchNormalization

_BLOCKS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


def _bn(synchronized_bn, name, gamma_zero=False):
    return FusedBatchNormalization(
        momentum=0.9,
        epsilon=1e-5,
        synchronized=synchronized_bn,
        gamma_initializer="zeros" if gamma_zero else "ones",
        name=name,
    )


def _conv(filters, kernel, strides, name):
    return layers.Conv2D(
        filters, kernel, strides=strides, padding="same", use_bias=False, kernel_initializer="he_normal", name=name
    )


def _block(x, filters, strides, kind, sync, name):
    expansion = 4 if kind == "bottleneck" else 1
    shortcut = x
    if strides != 1 or x.shape[-1] != filters * expansion:
        shortcut = _conv(filters * expansion, 1, strides, f"{name}_down_conv")(x)
        shortcut = _bn(sync, f"{name}_down_bn")(shortcut)
    if kind == "basic":
        y = _conv(filters, 3, strides, f"{name}_conv1")(x)
        y = layers.ReLU(name=f"{name}_relu1")(_bn(sync, f"{name}_bn1")(y))
        y = _conv(filters, 3, 1, f"{name}_conv2")(y)
        y = _bn(sync, f"{name}_bn2", gamma_zero=True)(y)
    else:
        y = _conv(filters, 1, 1, f"{name}_conv1")(x)
        y = layers.ReLU(name=f"{name}_relu1")(_bn(sync, f"{name}_bn1")(y))
        y = _conv(filters, 3, strides, f"{name}_conv2")(y)
        y = layers.ReLU(name=f"{name}_relu2")(_bn(sync, f"{name}_bn2")(y))
        y = _conv(filters * expansion, 1, 1, f"{name}_conv3")(y)
        y = _bn(sync, f"{name}_bn3", gamma_zero=True)(y)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))


def ResNet(
    depth=18, input_shape=(32, 32, 3), small_images=True, width_multiplier=1.0, synchronized_bn=False, name=None
):
    """A ResNet encoder returning globally average-pooled features.

    Args:
        depth: int. 18, 34 or 50. Defaults to `18`.
        input_shape: tuple. `(height, width, channels)` of float images in
            [0, 1]. Defaults to `(32, 32, 3)`.
        small_images: bool. 3x3 stride-1 stem without max-pool (CIFAR-style).
            Defaults to `True`.
        width_multiplier: float. Multiplies every layer's width (SimCLR's
            ResNet-50 (2x), (4x)). Defaults to `1.0`.
        synchronized_bn: bool. Batch statistics over all replicas. Defaults
            to `False`.
        name: str or None. Model name. Defaults to `resnet<depth>`.

    Returns:
        A functional `keras.Model` mapping `[B, H, W, C]` to `[B, D]`
        (D = 512 x width for 18/34, 2048 x width for 50).
    """
    if depth not in _BLOCKS:
        raise ValueError(f"ResNet depth must be one of {sorted(_BLOCKS)}, received depth={depth!r}.")
    if width_multiplier <= 0:
        raise ValueError(f"ResNet width_multiplier must be > 0, received {width_multiplier!r}.")
    kind, counts = _BLOCKS[depth]
    inputs = keras.Input(tuple(input_shape), name="images")
    stem = max(1, int(round(64 * width_multiplier)))
    if small_images:
        x = _conv(stem, 3, 1, "stem_conv")(inputs)
    else:
        x = _conv(stem, 7, 2, "stem_conv")(inputs)
    x = layers.ReLU(name="stem_relu")(_bn(synchronized_bn, "stem_bn")(x))
    if not small_images:
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, count in enumerate(counts):
        filters = max(1, int(round(64 * (2**stage) * width_multiplier)))
        for block in range(count):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _block(x, filters, strides, kind, synchronized_bn, f"stage{stage + 1}_block{block + 1}")
    outputs = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}")


def ResNet18(**kwargs):
    """ResNet-18; see `ResNet` for the arguments."""
    return ResNet(depth=18, **kwargs)


def ResNet34(**kwargs):
    """ResNet-34; see `ResNet` for the arguments."""
    return ResNet(depth=34, **kwargs)


def ResNet50(**kwargs):
    """ResNet-50; see `ResNet` for the arguments."""
    return ResNet(depth=50, **kwargs)
