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
