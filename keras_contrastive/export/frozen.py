"""A SavedModel whose weights are constants of its graph: what the text exports are written as.

An int8 model exported with its weights as variables converts every kernel to float32 on every call
(`Dense`'s int8 path casts the kernel before its matmul), and the variable reads keep TensorFlow's graph
optimizer from seeing the weights. Frozen, the int8 kernels are int8 constants in `saved_model.pb` (the same
bytes on disk as int8 variables), and TensorFlow's constant folding turns `cast(int8 constant)` into one
float32 constant when the server loads the model: int8 storage, float32 compute, no per-call dequantization,
and the same outputs. `benchmarks/bench_embed.py` measures the effect.

Limits: a `saved_model.pb` must stay under 2 GB (protocol buffers), so freezing is for encoders of up to a
few hundred million int8 weights; larger models keep `keras.export.ExportArchive`.
"""

import functools

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2_as_graph

# Keras's int8 layers carry a custom gradient that refers to their variables; an inference export needs none.
_SAVE_OPTIONS = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
_GRADIENT_ATTR = "_gradient_op_type"


def _without_custom_gradients(graph_def):
    """Drops the custom-gradient markers, which would make loading warn that their gradients were not saved."""
    for nodes in [graph_def.node] + [f.node_def for f in graph_def.library.function]:
        for node in nodes:
            if _GRADIENT_ATTR in node.attr:
                del node.attr[_GRADIENT_ATTR]
    return graph_def


class CapturesResources(ValueError):
    """An endpoint captures a resource other than a variable (a lookup table, a SentencePiece model)."""


def _freeze(concrete, name):
    """`concrete` with its variables as constants: a function over a plain GraphDef."""
    frozen, graph_def = convert_variables_to_constants_v2_as_graph(concrete)
    extra = len(frozen.inputs) - len(concrete.structured_input_signature[0])  # resources left as inputs
    if frozen.captured_inputs or extra:
        raise CapturesResources(
            f"Endpoint {name!r} captures {max(extra, len(frozen.captured_inputs))} resource(s) besides variables, "
            "which a frozen SavedModel cannot hold: export it with keras.export.ExportArchive instead."
        )
    graph_def = _without_custom_gradients(graph_def)
    wrapped = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(graph_def, name=""), [])
    tensor = wrapped.graph.get_tensor_by_name
    return wrapped.prune(
        feeds=[tensor(t.name) for t in frozen.inputs], fetches=[tensor(t.name) for t in frozen.outputs]
    )


class FrozenArchive:
    """`add_endpoint` and `write_out` as `keras.export.ExportArchive`, the weights frozen into the graph.

    Each endpoint is traced once with its `input_signature` (the Python argument names become the signature's
    input names, as with `ExportArchive`) and must return a dict of tensors. An endpoint that captures
    anything besides variables (a lookup table, say) is refused: export it with `ExportArchive`.
    """

    def __init__(self):
        self._module = tf.Module()
        self._signatures = {}

    def add_endpoint(self, name, fn, input_signature):
        concrete = tf.function(fn, input_signature=input_signature).get_concrete_function()
        outputs = concrete.structured_outputs
        if not isinstance(outputs, dict):
            raise ValueError(f"Endpoint {name!r} must return a dict of tensors; it returned {type(outputs).__name__}.")
        keys = sorted(outputs)  # the order `tf.nest.flatten` gives a dict's values, as the frozen function returns them
        frozen = _freeze(concrete, name)

        @functools.wraps(fn)  # its argument names, hence the signature's input names
        def serve(*args):
            return dict(zip(keys, tf.nest.flatten(frozen(*args))))

        endpoint = tf.function(serve, input_signature=input_signature)
        setattr(self._module, name, endpoint)
        self._signatures[name] = endpoint.get_concrete_function()
        return endpoint

    def write_out(self, path, verbose=False):
        del verbose  # `ExportArchive.write_out`'s argument; nothing to print
        tf.saved_model.save(self._module, path, signatures=dict(self._signatures), options=_SAVE_OPTIONS)
