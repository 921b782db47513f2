"""Every shipped SavedModel uses only ops stock TF Serving registers (core TF + TensorFlow Text 2.12.1)."""

import glob
import os

import pytest

from keras_contrastive.export.serving_ops import core_ops, saved_model_ops, tf_text_2_12_1_ops, unservable_ops

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(ROOT, "savedmodels", "**", "saved_model.pb"),
                                                        recursive=True))  # fmt: skip


def test_the_zoo_has_savedmodels_to_check():
    assert len(SHIPPED) >= 8, SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=[os.path.relpath(p, ROOT) for p in SHIPPED])
def test_a_shipped_savedmodel_uses_only_ops_stock_tf_serving_registers(path):
    ops = saved_model_ops(path)
    assert ops, path
    assert unservable_ops(path) == [], f"{path} uses ops stock TF Serving lacks"


def test_the_op_lists_hold_what_the_text_exports_use_and_refuse_the_rest():
    assert {"CaseFoldUTF8", "FastWordpieceTokenizeWithOffsets", "NormalizeUTF8", "RegexSplitWithOffsets",
            "SentencepieceOp", "SentencepieceTokenizeOp"} <= tf_text_2_12_1_ops()  # fmt: skip
    assert {"MatMul", "GatherV2", "Cast", "TopKV2", "DecodeImage"} <= core_ops()
    assert "FastWordpieceTokenizeWithOffsets" not in core_ops()
    # TF Text ops newer than 2.12.1 are not on the list, though today's tensorflow_text registers them.
    assert not {"TFText>RoundRobinTrim", "TFText>Utf8Binarize"} & tf_text_2_12_1_ops()


def test_a_text_export_with_an_op_newer_than_stock_tf_serving_is_caught(tmp_path):
    import tensorflow as tf
    import tensorflow_text as text

    class Newer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, x):
            return {"bits": text.utf8_binarize(x)}  # TF Text 2.13+: not in stock TF Serving

    module = Newer()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    assert unservable_ops(tmp_path) == ["TFText>Utf8Binarize"]
