"""What CPU this process runs on: its model, the instruction-set flags that decide TensorFlow's speed, and a
class name that every benchmark figure is reported under.

Speed figures are only comparable within one CPU class: the same recipe runs about 3x slower on a 2-core
AVX2 machine than on one with AVX-512 and native bfloat16. Choices that depend on the CPU (e.g. the
quick-start's precision) are made from these flags at run time, never guessed.
"""

import os
import platform

# The flags that matter for TensorFlow's CPU kernels (oneDNN picks its code path from them).
KEY_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")

# TensorFlow turns its oneDNN kernels on by default on Linux only for CPUs with one of these flags
# (`DefaultOneDnnPolicy` in tensorflow/core/util/port.cc, TF 2.9 to 2.21); elsewhere every op runs TensorFlow's
# own Eigen kernels, which its pip wheel builds for AVX without FMA.
TENSORFLOW_ONEDNN_DEFAULT_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def _read_cpuinfo(path="/proc/cpuinfo"):
    fields, flags = {}, set()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model") and key not in fields:
                    fields[key] = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    model = fields.get("model name")
    if model and "cpu family" in fields:  # "AMD EPYC" alone does not say which generation
        model += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    return model, flags


def cpu_class(flags):
    """The class a CPU's speed figures are reported under, from its flag set: `"amx"` (AMX bf16 tiles),
    `"avx512_bf16"` (AVX-512 with native bfloat16), `"avx512"`, `"avx2"` or `"other"`."""
    flags = set(flags)
    if {"amx_tile", "amx_bf16"} <= flags:
        return "amx"
    if "avx512f" in flags:
        return "avx512_bf16" if "avx512_bf16" in flags else "avx512"
    if "avx2" in flags:
        return "avx2"
    return "other"


def native_bfloat16(flags):
    """True when the CPU executes bfloat16 matrix products natively (AVX512_BF16 or AMX), so Keras's
    `mixed_bfloat16` policy runs faster than float32 instead of emulating bfloat16 in float32."""
    return cpu_class(flags) in ("amx", "avx512_bf16")


def cpu_info(path="/proc/cpuinfo"):
    """`{"model", "class", "flags", "has", "cores", "machine"}` of this machine's CPU (`flags`: those of
    `KEY_FLAGS` present, sorted; `has`: every one of `KEY_FLAGS`, true or false)."""
    model, flags = _read_cpuinfo(path)
    return {
        "model": model or platform.processor() or platform.machine(),
        "class": cpu_class(flags),
        "flags": sorted(flag for flag in KEY_FLAGS if flag in flags),
        "has": {flag: flag in flags for flag in KEY_FLAGS},
        "cores": os.cpu_count(),
        "machine": platform.machine(),
    }


def tensorflow_onednn_default(flags):
    """Whether TensorFlow turns its oneDNN kernels on by itself on a CPU with these flags (Linux x86)."""
    return bool(set(flags) & set(TENSORFLOW_ONEDNN_DEFAULT_FLAGS))


def onednn_wanted(flags):
    """Whether TensorFlow should run its oneDNN kernels on a CPU with these flags: on every CPU with AVX2 and
    FMA. oneDNN generates AVX2 + FMA (or AVX-512) code at run time; TensorFlow's Eigen kernels, which run
    instead when oneDNN is off, are built for AVX without FMA (TensorFlow says so at import on such a CPU). Not
    yet measured on an AVX2-only CPU; `benchmarks/README.md` ("oneDNN on AVX2 CPUs") has the proxy measured on
    an AVX-512 one and the command to measure it."""
    return {"avx2", "fma"} <= set(flags)


def configure_onednn(environ=None, flags=None):
    """Turns TensorFlow's oneDNN kernels on where `onednn_wanted` and TensorFlow's own default leaves them off,
    by setting `TF_ENABLE_ONEDNN_OPTS=1` in `environ` (default `os.environ`); a value the user set is kept.

    TensorFlow reads the variable once, when it is imported, so this runs when `keras_contrastive` is
    imported, before any TensorFlow import of the package.

    Returns:
        `"user"` (the variable was set already), `"enabled"` (set to 1 here) or `"default"` (TensorFlow's
        default is already what `onednn_wanted` says; nothing set).
    """
    environ = os.environ if environ is None else environ
    if ONEDNN_ENV in environ:
        return "user"
    flags = _read_cpuinfo()[1] if flags is None else set(flags)
    if onednn_wanted(flags) and not tensorflow_onednn_default(flags):
        environ[ONEDNN_ENV] = "1"
        return "enabled"
    return "default"
