"""Weight-only int8 quantization of a model before export (Keras 3's `Layer.quantize("int8")`).

Every built `Dense`, `EinsumDense` and `Embedding` layer (keras-hub's
`ReversibleEmbedding` is one) stores its kernel as int8 with a float scale
per output channel, a quarter of the float32 bytes. Activations stay float:
Keras's default int8 config would also quantize each layer's inputs at run
time, which costs accuracy and buys no size; it is switched off here.
`"int4"` stores the `Embedding` tables in 4 bits instead (two values a byte,
one float scale per row) and the dense kernels in int8: a small text
encoder's 30,522-token table is most of its size, and int8 alone left it
just over the zoo's 10 MB limit of the time. Convolutions are left as they are.
"""

import keras

from keras_contrastive import keras_internals

QUANTIZABLE = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Embedding)
MODES = ("int8", "int4")


def quantize_weights(model, mode="int8"):
    """Quantizes, in place, the weights of every built `QUANTIZABLE` layer inside `model`: int8 kernels, and
    with `mode="int4"` 4-bit embedding tables (one scale per row).

    `keras.Model.quantize` stops at the first unbuilt layer (e.g. a
    tokenizer's packer); this walks the layers and quantizes the ones it can.

    Returns:
        The number of layers quantized.

    Raises:
        ValueError: an unknown `mode`, or nothing in `model` to quantize.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown quantization {mode!r}: use one of {MODES}.")
    layers = [
        layer
        for layer in keras_internals.flatten_layers(model)
        if isinstance(layer, QUANTIZABLE) and layer.built and getattr(layer, "quantization_mode", None) is None
    ]
    int8 = ("int8", keras.quantizers.Int8QuantizationConfig(activation_quantizer=None))  # weights only
    int4 = ("int4", keras.quantizers.Int4QuantizationConfig(activation_quantizer=None, block_size=-1))
    quantized = 0
    for layer in layers:
        layer_mode, config = int4 if mode == "int4" and isinstance(layer, keras.layers.Embedding) else int8
        try:
            layer.quantize(layer_mode, config=config)
            quantized += 1
        except NotImplementedError:  # a subclass (of Dense, ...) without its own quantize: left float
            continue
    if not quantized:
        raise ValueError(
            f"{type(model).__name__} has no float Dense or Embedding layer left to quantize ({mode} applies to "
            "those); export it without --quantize."
        )
    for inner in keras_internals.flatten_layers(model):
        # Functions traced before would keep the float kernels (`keras.Model.quantize` resets them too).
        if hasattr(inner, "clear_traced_functions"):
            inner.clear_traced_functions()
        elif isinstance(inner, keras.Model):
            inner.train_function = inner.test_function = inner.predict_function = None
    return quantized
