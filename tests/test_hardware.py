"""The CPU class every benchmark figure is reported under, from the flags the machine reports."""

from keras_contrastive import hardware

AVX2 = {"sse4_2", "avx", "avx2", "fma"}
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl"}


def test_cpu_class_from_flag_sets():
    assert hardware.cpu_class(AVX2) == "avx2"
    assert hardware.cpu_class(AVX512) == "avx512"
    assert hardware.cpu_class(AVX512 | {"avx512_bf16"}) == "avx512_bf16"
    assert hardware.cpu_class(AVX512 | {"avx512_bf16", "amx_tile", "amx_bf16"}) == "amx"
    assert hardware.cpu_class({"sse2"}) == "other"


def test_native_bfloat16_only_where_the_cpu_has_it():
    assert not hardware.native_bfloat16(AVX2)
    assert not hardware.native_bfloat16(AVX512)
    assert hardware.native_bfloat16(AVX512 | {"avx512_bf16"})
    assert hardware.native_bfloat16(AVX512 | {"amx_tile", "amx_bf16"})


def test_cpu_info_reads_model_family_and_key_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
        "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n"
    )
    info = hardware.cpu_info(str(cpuinfo))
    assert info["model"] == "AMD EPYC 7B13 (family 25, model 1)"
    assert info["class"] == "avx2"
    assert info["flags"] == ["avx2", "fma"]
    assert info["has"]["avx2"] and not info["has"]["avx512f"] and not info["has"]["amx_bf16"]


def test_cpu_info_without_cpuinfo_still_answers(tmp_path):
    info = hardware.cpu_info(str(tmp_path / "missing"))
    assert info["class"] == "other" and info["flags"] == [] and info["model"]


def test_tensorflow_leaves_onednn_off_on_avx2_and_avx512_without_vnni():
    # TensorFlow's own rule (tensorflow/core/util/port.cc): on only with a neural-network instruction set.
    assert not hardware.tensorflow_onednn_default(AVX2)
    assert not hardware.tensorflow_onednn_default(AVX512)
    assert hardware.tensorflow_onednn_default(AVX512 | {"avx512_vnni"})
    assert hardware.tensorflow_onednn_default(AVX2 | {"avx_vnni"})
    assert hardware.tensorflow_onednn_default(AVX512 | {"avx512_bf16"})


def test_onednn_wanted_wherever_avx2_and_fma():
    assert hardware.onednn_wanted(AVX2)
    assert hardware.onednn_wanted(AVX512 | {"avx512_bf16"})
    assert not hardware.onednn_wanted({"sse4_2", "avx"})
    assert not hardware.onednn_wanted({"avx2"})  # no FMA
    assert not hardware.onednn_wanted(set())  # e.g. ARM, or no /proc/cpuinfo


def test_configure_onednn_turns_it_on_only_where_tensorflow_would_not():
    environ = {}
    assert hardware.configure_onednn(environ, AVX2) == "enabled"
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    environ = {}
    assert hardware.configure_onednn(environ, AVX512) == "enabled"  # e.g. Skylake-SP: no VNNI
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    for flags in (AVX512 | {"avx512_vnni", "avx512_bf16"}, {"sse4_2", "avx"}, set()):
        environ = {}
        assert hardware.configure_onednn(environ, flags) == "default"
        assert environ == {}


def test_configure_onednn_keeps_the_users_setting():
    environ = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert hardware.configure_onednn(environ, AVX2) == "user"
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "0"}


def test_after_importing_the_package_tensorflow_runs_onednn_wherever_wanted():
    import os
    import subprocess
    import sys

    # A fresh process, as a user's: the package is imported first, then TensorFlow reads the variable.
    code = (
        "import keras_contrastive, tensorflow;"
        "from tensorflow.python.util import _pywrap_util_port;"
        "print(keras_contrastive.ONEDNN_CHOICE, _pywrap_util_port.IsMklEnabled())"
    )
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    choice, enabled = out.stdout.split()[-2:]
    flags = hardware._read_cpuinfo()[1]
    assert choice == ("default" if hardware.tensorflow_onednn_default(flags) else "enabled")
    assert enabled == str(hardware.onednn_wanted(flags) or hardware.tensorflow_onednn_default(flags))
