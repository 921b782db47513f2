"""Which ops a SavedModel needs, and whether stock TF Serving has them.

Stock TF Serving registers TensorFlow's core ops and the ops of the TensorFlow Text it embeds, 2.12.1
(tensorflow/serving#4057): an export that uses any other op (a newer TF Text op, a custom op) loads here and
fails there. `tf_text_2_12_1_ops.txt` lists that version's ops (made by `scripts/list_tf_text_ops.py`).
"""

import functools
import os

from tensorflow.core.protobuf import saved_model_pb2

TF_TEXT_OPS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_text_2_12_1_ops.txt")


@functools.lru_cache(maxsize=None)
def tf_text_2_12_1_ops():
    with open(TF_TEXT_OPS_FILE, encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip() and not line.startswith("#"))


@functools.lru_cache(maxsize=None)
def core_ops():
    """The ops TensorFlow itself defines (`tf.raw_ops`: none of TF Text's, nor any custom op)."""
    import tensorflow as tf

    return frozenset(name for name in dir(tf.raw_ops) if not name.startswith("_"))


def saved_model_ops(path):
    """The op types of a SavedModel version folder: its graph and every function of its library."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(os.fspath(path), "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        functions = {f.signature.name for f in graph.library.function}
        for nodes in [graph.node] + [f.node_def for f in graph.library.function]:
            ops |= {node.op for node in nodes if node.op not in functions}
    return ops


def unservable_ops(path):
    """The ops of the SavedModel at `path` that stock TF Serving does not register (sorted; empty = servable)."""
    return sorted(saved_model_ops(path) - core_ops() - tf_text_2_12_1_ops())
