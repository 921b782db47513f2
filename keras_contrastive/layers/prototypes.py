"""SwAV's prototypes: a linear layer between unit vectors."""

import keras
from keras import ops

from keras_contrastive.normalize import l2_normalize


@keras.saving.register_keras_serializable(package="keras_contrastive")
class Prototypes(keras.layers.Layer):
    """Cosine similarities of features to `num_prototypes` learned unit vectors.

    SwAV (Caron et al., 2020, https://arxiv.org/abs/2006.09882, section 3.1):
    the scores are `normalize(x) @ C` where the columns of `C` are the
    prototypes. `C` starts with unit columns and the training step calls
    `normalize_weights()` after every optimizer step, so the prototypes stay
    on the unit sphere. `call(..., frozen=True)` stops the gradient to `C`
    (SwAV freezes the prototypes during the first epoch): the optimizer then
    sees a zero gradient, and the re-normalisation undoes any uniform weight
    decay, so the prototypes do not change.

    Args:
        num_prototypes: int. Number of prototypes `K`.
        dim: int or None. Feature size; `None` takes it from the first input.
            Defaults to `None`.
        seed: int or None. Seed of the initial prototypes. Defaults to `None`.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    >>> import numpy as np
    >>> prototypes = Prototypes(10, 4)
    >>> tuple(prototypes(np.ones((2, 4), "float32")).shape)
    (2, 10)
    >>> np.allclose(np.linalg.norm(prototypes.kernel.numpy(), axis=0), 1.0)
    True
    """

    def __init__(self, num_prototypes, dim=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_prototypes) < 1 or (dim is not None and int(dim) < 1):
            raise ValueError(
                f"Prototypes needs num_prototypes >= 1 and dim >= 1, received num_prototypes={num_prototypes}, "
                f"dim={dim}."
            )
        self.num_prototypes = int(num_prototypes)
        self.dim = None if dim is None else int(dim)
        self.seed = seed
        if self.dim is not None:
            self.build((None, self.dim))

    def build(self, input_shape):
        if self.built:
            return
        dim = int(input_shape[-1])
        if self.dim is not None and dim != self.dim:
            raise ValueError(f"Prototypes(dim={self.dim}) received features of size {dim}.")
        self.dim = dim
        # `only_first_replica`: normalize_weights() assigns in replica context,
        # with the same value on every replica.
        self.kernel = self.add_weight(
            shape=(dim, self.num_prototypes),
            initializer=self._unit_columns,
            name="kernel",
            aggregation="only_first_replica",
        )
        self.built = True

    def _unit_columns(self, shape, dtype=None):
        columns = keras.random.normal(shape, seed=self.seed, dtype="float32")
        return ops.cast(l2_normalize(columns, axis=0), dtype or "float32")

    def normalize_weights(self):
        """Scales every prototype (column of `kernel`) back to unit norm."""
        self.kernel.assign(l2_normalize(self.kernel.value, axis=0))

    def call(self, inputs, frozen=None):
        """Scores `[..., num_prototypes]`; `frozen`: bool (tensor) or None,
        True stops the gradient to the prototypes."""
        if inputs.shape[-1] is not None and int(inputs.shape[-1]) != self.dim:
            raise ValueError(f"Prototypes(dim={self.dim}) received features of size {inputs.shape[-1]}.")
        kernel = ops.cast(self.kernel, self.compute_dtype)
        if frozen is not None:
            kernel = ops.where(frozen, ops.stop_gradient(kernel), kernel)
        return ops.matmul(l2_normalize(inputs), kernel)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_prototypes,)

    def get_config(self):
        config = super().get_config()
        config.update({"num_prototypes": self.num_prototypes, "dim": self.dim, "seed": self.seed})
        return config
