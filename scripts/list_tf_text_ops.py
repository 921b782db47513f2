"""Lists the ops a TensorFlow Text wheel registers (what stock TF Serving, which embeds TF Text 2.12.1, can run).

    pip download --no-deps tensorflow-text==2.12.1 --python-version 3.11 --only-binary=:all: \
        --platform manylinux2014_x86_64 -d wheels
    python scripts/list_tf_text_ops.py wheels/tensorflow_text-2.12.1-*.whl \
        > keras_contrastive/export/tf_text_2_12_1_ops.txt

An old wheel's libraries do not load beside today's TensorFlow, so its ops are read from the string tables of
its `.so` files and kept where they name an op that today's installed TensorFlow Text registers (which drops
every string that is not an op). `tests/export/test_serving_ops.py` checks every shipped SavedModel against
this list and the core ops.
"""

import re
import sys
import zipfile

from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session
from tensorflow.python.util import compat


def registered_ops():
    """Names of every op registered in this process."""
    ops = op_def_pb2.OpList()
    ops.ParseFromString(compat.as_bytes(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList())))
    return {op.name for op in ops.op}


def main(wheel):
    strings = set()
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".so"):
                strings |= set(re.findall(rb"[A-Za-z0-9_>]{3,}", archive.read(name)))
    core = registered_ops()
    import tensorflow_text  # noqa: F401 (registers today's TF Text ops)

    text_ops = registered_ops() - core
    found = sorted(op for op in text_ops if op.encode() in strings)
    print(f"# Ops of {wheel.rsplit('/', 1)[-1]} (scripts/list_tf_text_ops.py): {len(found)}")
    print("\n".join(found))


if __name__ == "__main__":
    main(sys.argv[1])
