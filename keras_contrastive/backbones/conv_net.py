"""A small VGG-style ConvNet for fast CPU recipes on small images."""

import keras
from keras import layers

from keras_contrastive.backbones.fused_batch_normalization import FusedBatchNormalization


def ConvNet(
    input_shape=(28, 28, 1),
    width=32,
    stages=3,
    convs_per_stage=2,
    output_pool="average",
    synchronized_bn=False,
    name="convnet",
):
    """`stages` x (`convs_per_stage` x [3x3 conv, BN, ReLU], 2x2 max-pool),
    a last 3x3 conv at 8 x `width` (doubled widths per stage), then pooling.

    BatchNorm is `FusedBatchNormalization`: Keras's layer, same weights and results, whose training step
    runs as one fused oneDNN op (`benchmarks/bench_convnet_step.py` measures the difference).

    Args:
        input_shape: tuple. `(height, width, channels)` of float images in
            [0, 1]. Defaults to `(28, 28, 1)`.
        width: int. Channels of the first stage; each stage doubles it.
            Defaults to `32`.
        stages: int. Number of conv stages followed by a 2x2 max-pool.
            Defaults to `3`.
        convs_per_stage: int. 3x3 convolutions in each stage. Defaults to `2`.
        output_pool: str. `"average"` (global average pooling), `"max"`, or
            `"flatten"` (keeps the last feature map's layout: on 28x28 inputs
            with 3 stages, 3 x 3 x 8 `width` features). Defaults to
            `"average"`.
        synchronized_bn: bool. Batch statistics over all replicas. Defaults
            to `False`.
        name: str. Model name. Defaults to `"convnet"`.

    Returns:
        A functional `keras.Model` mapping `[B, H, W, C]` to `[B, D]`,
        `D = width * 2**stages` after pooling.
    """
    if output_pool not in ("average", "max", "flatten"):
        raise ValueError(f"ConvNet output_pool must be 'average', 'max' or 'flatten', received {output_pool!r}.")
    if stages < 1 or convs_per_stage < 1 or width < 1:
        raise ValueError(
            f"ConvNet needs stages, convs_per_stage and width >= 1, received "
            f"stages={stages}, convs_per_stage={convs_per_stage}, width={width}."
        )
    smallest = 2**stages
    if any(isinstance(side, int) and side < smallest for side in input_shape[:2]):
        raise ValueError(
            f"ConvNet with stages={stages} halves the image {stages} times, so it needs images of at least "
            f"{smallest}x{smallest}; received input_shape={tuple(input_shape)}. Use fewer encoder.stages, or "
            "larger images (data.image_size)."
        )
    inputs = keras.Input(tuple(input_shape), name="images")
    x = inputs
    for stage in range(stages):
        for conv in range(convs_per_stage):
            x = layers.Conv2D(
                width * 2**stage, 3, padding="same", use_bias=False, name=f"stage{stage + 1}_conv{conv + 1}"
            )(x)
            x = FusedBatchNormalization(synchronized=synchronized_bn, name=f"stage{stage + 1}_bn{conv + 1}")(x)
            x = layers.ReLU(name=f"stage{stage + 1}_relu{conv + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"stage{stage + 1}_pool")(x)
    x = layers.Conv2D(width * 2**stages, 3, padding="same", use_bias=False, name="head_conv")(x)
    x = FusedBatchNormalization(synchronized=synchronized_bn, name="head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    pool = {"average": layers.GlobalAveragePooling2D, "max": layers.GlobalMaxPooling2D, "flatten": layers.Flatten}
    outputs = pool[output_pool](name="pool")(x)
    return keras.Model(inputs, outputs, name=name)
