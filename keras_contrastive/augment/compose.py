"""`Compose`: apply several augmentations in turn."""

import keras


@keras.saving.register_keras_serializable(package="keras_contrastive")
class Compose(keras.layers.Layer):
    """Applies `layers` one after the other.

    Any Keras layer that maps a batch of images to a batch of images fits,
    e.g. `keras.layers.RandomRotation` or a keras-cv layer, next to the
    layers of `keras_contrastive.augment`.

    Args:
        layers: list of `keras.layers.Layer`. Applied in order.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    >>> from keras_contrastive.augment import RandomGrayscale
    >>> aug = Compose([keras.layers.RandomFlip("horizontal"), RandomGrayscale(1.0)])
    >>> aug(np.random.rand(2, 8, 8, 3).astype("float32")).shape
    TensorShape([2, 8, 8, 3])
    """

    def __init__(self, layers, **kwargs):
        super().__init__(**kwargs)
        layers = list(layers)
        for layer in layers:
            if not isinstance(layer, keras.layers.Layer):
                raise ValueError(
                    "Compose takes keras.layers.Layer instances (so that it can be "
                    f"serialized); received {layer!r}. Wrap a function in "
                    "keras.layers.Lambda, or pass it directly as a view."
                )
        self.layers = layers
        self.built = True

    def call(self, images):
        for layer in self.layers:
            images = layer(images)
        return images

    def compute_output_shape(self, input_shape):
        for layer in self.layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"layers": [keras.layers.serialize(layer) for layer in self.layers]})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layers"] = [keras.layers.deserialize(layer) for layer in config["layers"]]
        return cls(**config)
