"""`FusedBatchNormalization`: Keras's `BatchNormalization` whose training step is one fused TensorFlow op."""

import keras
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="keras_contrastive")
class FusedBatchNormalization(layers.BatchNormalization):
    """`BatchNormalization` whose training step is one fused TensorFlow op.

    Keras 3 normalises with separate moments, multiply and add ops; in
    TensorFlow's CPU build those run as unvectorised Eigen kernels, while
    `FusedBatchNormV3` (and its gradient) runs as one oneDNN kernel.
    Same arguments, weights and
    results as `BatchNormalization` up to float round-off: the moving
    variance gets the biased batch variance, as Keras's. Under a
    `mixed_bfloat16` policy the inputs and outputs are bfloat16 while the
    op's statistics, scale and offset stay float32 (Keras's layer also
    computes in float32 there). Anything but a float32 or bfloat16,
    channels-last, 4-D, unsynchronized, trainable training call without
    renorm goes to Keras's own implementation.
    """

    def call(self, inputs, training=None, mask=None):
        fusable = (
            training is True
            and mask is None
            and not self.synchronized
            and self.trainable
            and not getattr(self, "renorm", False)
            and inputs.dtype in (tf.float32, tf.bfloat16)
            and self.axis in (-1, len(inputs.shape) - 1)
            and len(inputs.shape) == 4
            and self.gamma is not None
            and self.beta is not None
        )
        if not fusable:
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        empty = tf.zeros([0], tf.float32)  # no running statistics in: batch statistics out
        outputs, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=inputs,
            scale=tf.convert_to_tensor(self.gamma),
            offset=tf.convert_to_tensor(self.beta),
            mean=empty,
            variance=empty,
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        # The op returns the unbiased variance (n / (n - 1)); Keras tracks the biased one.
        count = tf.cast(tf.size(inputs) // channels, tf.float32)
        variance = variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)
