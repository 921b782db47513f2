"""Weight-only int8 export, and every weight stored once in an export."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.export import export_encoder
from keras_contrastive.export.quantize import quantize_weights
from keras_contrastive.export.text_export import embed_with_export, export_text_encoder, load_text_export
from keras_contrastive.testing import tiny_simcse
from keras_contrastive.text.testing import TINY_SENTENCES


def _checkpoint_shapes(version_dir):
    return [tuple(shape) for _, shape in tf.train.list_variables(os.path.join(version_dir, "variables", "variables"))]


def _weight_bytes(version_dir):
    """Bytes of the weights: the checkpoint's variables, plus the constants of a frozen export's graph (not the
    tokenizer's: its WordPiece model is a constant too, the same in both)."""
    from tensorflow.core.protobuf import saved_model_pb2

    total = 0
    if os.path.exists(os.path.join(version_dir, "variables", "variables.index")):
        reader = tf.train.load_checkpoint(os.path.join(version_dir, "variables", "variables"))
        shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
        total += sum(int(np.prod(shapes[n])) * dtypes[n].size for n in shapes if "OBJECT_GRAPH" not in n)
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    graph = saved_model.meta_graphs[0].graph_def
    for nodes in [graph.node] + [f.node_def for f in graph.library.function]:
        consts = [n for n in nodes if n.op == "Const" and "tokenizer" not in n.name]
        total += sum(len(n.attr["value"].tensor.tensor_content) for n in consts)
    return total


def test_an_export_stores_each_weight_once(tmp_path):
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3), keras.layers.Flatten(),
                                keras.layers.Dense(5)])  # fmt: skip
    path = export_encoder(encoder, tmp_path / "enc")
    shapes = _checkpoint_shapes(path)
    for weight in encoder.weights:  # Keras 3.15's ExportArchive.track() would store each one twice
        assert shapes.count(tuple(weight.shape)) == 1, (weight.path, shapes)


def test_int8_text_export_is_smaller_and_close_and_reloads_the_same(tmp_path):
    model = tiny_simcse(pooling="mean")
    sentences = TINY_SENTENCES[:6]
    expected = model.encode(sentences)
    float_dir = export_text_encoder(model, tmp_path / "float")
    count = quantize_weights(model)
    assert count >= 5  # the token embedding and the transformer's dense kernels
    embedding = next(w for w in model.weights if "token_embedding" in w.path and "embeddings" in w.path)
    assert embedding.dtype == "int8"
    dense = [layer for layer in model._flatten_layers() if type(layer) is keras.layers.Dense and layer.built]
    assert dense and all(layer.quantization_mode == "int8" and layer.inputs_quantizer is None for layer in dense)
    quantized = model.encode(sentences)
    np.testing.assert_allclose(quantized, expected, atol=0.05)  # close, not equal: int8 kernels
    assert np.abs(quantized - expected).max() > 0
    int8_dir = export_text_encoder(model, tmp_path / "int8")
    np.testing.assert_allclose(embed_with_export(load_text_export(int8_dir), sentences), quantized, atol=1e-5)
    # The stored weights (not the checkpoint's fixed overhead, which dominates at this tiny size).
    assert _weight_bytes(int8_dir) < 0.55 * _weight_bytes(float_dir)  # biases, norms and scales stay float
    with pytest.raises(ValueError, match="Unknown quantization 'int2'"):
        quantize_weights(model, "int2")
    with pytest.raises(ValueError, match="has no float Dense or Embedding layer left to quantize"):
        quantize_weights(model)  # all quantized already


def test_int4_packs_the_embedding_table_in_4_bits_and_the_kernels_in_int8(tmp_path):
    model = tiny_simcse(pooling="mean")
    sentences = TINY_SENTENCES[:6]
    expected = model.encode(sentences)
    int8_dir = export_text_encoder(model, tmp_path / "int8_reference")  # float here; int8 below
    quantize_weights(model, "int4")
    modes = {type(layer).__name__: layer.quantization_mode for layer in model._flatten_layers() if layer.built
             and isinstance(layer, (keras.layers.Embedding, keras.layers.Dense))}  # fmt: skip
    embeddings = [m for name, m in modes.items() if "Embedding" in name and name != "PositionEmbedding"]
    assert embeddings and set(embeddings) == {"int4"} and modes["Dense"] == "int8", modes
    quantized = model.encode(sentences)
    np.testing.assert_allclose(quantized, expected, atol=0.15)  # 16 levels per row: close, not equal
    int4_dir = export_text_encoder(model, tmp_path / "int4")
    np.testing.assert_allclose(embed_with_export(load_text_export(int4_dir), sentences), quantized, atol=1e-5)
    assert _weight_bytes(int4_dir) < 0.5 * _weight_bytes(int8_dir)


def test_a_model_with_nothing_to_quantize_is_refused():
    convs = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3)])
    with pytest.raises(ValueError, match="has no float Dense or Embedding layer left to quantize"):
        quantize_weights(convs)
