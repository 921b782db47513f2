"""Every private Keras / TensorFlow API the package touches, in one place, each with why.

`setup.py` pins Keras to the minor version the tests ran on (`keras==3.15.*`) because of these: a Keras
release may rename or change any of them. Tests exercise every function here (the method, export and run
tests), so an upgrade that breaks one fails CI instead of a user's run. Nothing else in the package calls a
private Keras or TensorFlow attribute.
"""

import tensorflow as tf


def build_optimizer_only(model, iterator=None, data_batch=None):
    """Stands in for `keras.Model._maybe_symbolic_build` (a method override on `ContrastiveModel`).

    Keras traces the model on a batch reduced across replicas before `fit`; for the methods' dict batches
    that reduction fails under `MultiWorkerMirroredStrategy`, and tracing would call the model on the dict.
    The methods build themselves in `__init__`, so only the optimizer needs building, in the strategy's
    scope."""
    if model.optimizer is not None and not model.optimizer.built:
        with model.distribute_strategy.scope():
            model.optimizer.build(model.trainable_variables)


def flatten_layers(model):
    """Every layer inside `model` (itself included), recursively: `Layer._flatten_layers`. Keras has no
    public recursive listing (`model.layers` holds direct children only)."""
    return list(model._flatten_layers(include_self=True, recursive=True))


def excluded_from_weight_decay(optimizer):
    """`(names, variables)` an optimizer already excludes from weight decay. `exclude_from_weight_decay`
    replaces the previous exclusions when called again, so adding one (CLIP's logit scale) must read them
    from the private `_exclude_from_weight_decay_pattern` / `_exclude_from_weight_decay`."""
    pattern = getattr(optimizer, "_exclude_from_weight_decay_pattern", None)
    names = set(pattern.pattern.split("|")) if pattern is not None else set()
    return names, set(getattr(optimizer, "_exclude_from_weight_decay", set()))


def add_excluded_variables(optimizer, variables):
    """Adds `variables` back to the optimizer's private exclusion set (see `excluded_from_weight_decay`)."""
    optimizer._exclude_from_weight_decay |= set(variables)


def variable_index(optimizer, variable):
    """The slot index of `variable` in an optimizer's per-variable state lists
    (`Optimizer._get_variable_index`), as every built-in Keras optimizer's `update_step` uses it."""
    return optimizer._get_variable_index(variable)


def accept_string_inputs(layer):
    """Lets a layer take Python strings and lists of them as its input (a tokenizer), as keras-hub's
    tokenizers do: Keras otherwise converts positional inputs to float tensors (`_convert_input_args`,
    `_allow_non_tensor_positional_args`)."""
    layer._convert_input_args = False
    layer._allow_non_tensor_positional_args = True


def in_multi_worker_mode(strategy):
    """Whether a `MultiWorkerMirroredStrategy` spans several workers (`extended._in_multi_worker_mode`): Keras
    then reduces logs with `reduce(MEAN, axis=0)`, which rejects scalars, so the methods return `[1]`-shaped
    logs. A single-worker instance behaves like `MirroredStrategy`."""
    extended = getattr(strategy, "extended", None)
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        getattr(extended, "_in_multi_worker_mode", lambda: False)()
    )


def untracked_cache(layer, name):
    """A plain dict stored on `layer` without Keras's attribute tracking (`layer.__dict__`): a method keeps its
    per-resolution views of the encoder there (`ContrastiveModel._encoder_for`, for multi-crop), whose layers
    (shared weights) belong to, and are saved with, the encoder only."""
    return layer.__dict__.setdefault(name, {})


# Not a call but a reliance on Keras internals: the exporters (`export/export_encoder.py`,
# `export/clip_export.py`, `export/text_export.py`) do not call `ExportArchive.track(model)`. Their endpoints
# capture the model's variables; tracking the Keras model as well stored every weight twice in Keras 3.15
# (its KerasVariables and their tf.Variables). `tests/export/test_export_encoder.py` checks the checkpoint
# holds each weight once.
