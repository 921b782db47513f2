"""The names a run's `strategy` and `precision` options take, written once.

The recipe schema (`train.precision`), the run layer (`distributed.resolve_strategy`,
`precision.resolve_precision`) and the command line's `--strategy` / `--precision` choices all read them
here. This module imports nothing: the command line builds its parser from it before TensorFlow loads.
"""

# `tf.distribute` strategies by name (`distributed.resolve_strategy`).
STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")
# Keras dtype policies a run may train under (`precision.resolve_precision`).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# What a recipe's `train.precision` and `--precision` accept: a policy, or `auto` (chosen from the machine).
PRECISION_CHOICES = ("auto", *PRECISIONS)
