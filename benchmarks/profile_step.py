"""Where one SimCLR training step's time goes, ours beside PyTorch + lightly's, op kind by op kind.

The step of `run_peer_comparison.py` (ResNet-18 small-image stem, 32x32x3, batch 256 x 2 views, 512-512-128
head, NT-Xent, SGD with momentum, 2 threads), fed from memory, each side in a fresh process:
`peer/keras_simclr.py --mode profile` (TensorFlow's profiler, `tf.profiler.experimental`) and
`peer/lightly_simclr.py --mode profile` (`torch.profiler`). Each runs `--warmup` untimed steps, `--steps`
timed steps without the profiler (`step_seconds`), then `--steps` profiled steps; op times are per step.

Every op is put in one kind: conv forward, conv backprop input, conv backprop filter (PyTorch computes
both gradients of a convolution in one op, `convolution_backward`, so its two are one row), batchnorm
(forward, backward and the running statistics), ReLU (forward and backward), residual add, gradient sums
(where a tensor feeds two layers, its two gradients are added: TensorFlow's `AddN`, autograd's `add_`),
pooling, head matmuls, head other (its BatchNorm, ReLU, bias), loss (and its metrics), optimizer update,
other. Ours are classified by TensorFlow op type and the layer's name scope, theirs by ATen op, the
named forward regions of `lightly_simclr.py` and, for the backward pass, the autograd node that runs it.
`ops_total_ms` is the sum over ops: TensorFlow runs independent ops on 2 inter-op threads at once, so its
sum may exceed the step's wall time; PyTorch runs them one after another.

`kernels` lists ours per TensorFlow op type: types named `_Mkl*` run oneDNN kernels, the others
TensorFlow's own (Eigen) kernels. `--ours-env KEY=VALUE` sets environment variables of our process only
(e.g. `ONEDNN_MAX_CPU_ISA=AVX2`, a proxy for an AVX2 machine: oneDNN capped at AVX2 here; TensorFlow's
Eigen kernels are built for AVX either way); `--peer-env` the same for theirs.

    python benchmarks/profile_step.py [--steps 2] [--warmup 1] [--batch-size 256] \
        [--ours-precision float32|mixed_bfloat16] [--peer-layout channels_last|nchw] \
        [--peer-precision float32|bfloat16] [--ours-env KEY=VALUE ...] [--peer-env KEY=VALUE ...] --out FILE
"""

import argparse
import os
import re
import sys

from _results import check_peer_python, command_line, peer_python, write_result  # noqa: E402 (benchmarks/ is on sys.path)
from run_peer_comparison import OURS, THEIRS, random_images_file, run_measurement  # noqa: E402

KINDS = (
    "conv forward",
    "conv backprop input",
    "conv backprop filter",
    "conv backprop input + filter",
    "batchnorm",
    "relu",
    "residual add",
    "gradient sums",
    "pooling",
    "head matmuls",
    "head other",
    "loss",
    "optimizer update",
    "other",
)
# Ops of the step's bookkeeping rather than its arithmetic.
_FRAMEWORK_TF = {
    "IteratorGetNext",
    "ReadVariableOp",
    "AssignVariableOp",
    "AssignAddVariableOp",
    "Identity",
    "NoOp",
    "Const",
    "OptionalFromValue",
    "OptionalHasValue",
    "OptionalGetValue",
}


def _scope(component):
    """A name-scope component without the `_N` suffix TensorFlow adds to repeated scopes."""
    return re.sub(r"_\d+$", "", component)


def kind_of_tf_op(name, op_type, encoder, projector, optimizer):
    """The kind (one of `KINDS`) of a TensorFlow op of our step, from its type and name scope (`encoder`,
    `projector`, `optimizer`: the names of those three, which open the scopes of their ops)."""
    parts = name.split("/")
    backward = parts[0] == "gradient_tape"
    parts = parts[1:] if backward else parts
    region, layer = _scope(parts[0]), _scope(parts[1]) if len(parts) > 1 else ""
    base = op_type.replace("_MklNative", "").replace("_Mkl", "")
    if "Conv2DBackpropFilter" in base:
        return "conv backprop filter"
    if "Conv2DBackpropInput" in base:
        return "conv backprop input"
    if "Conv2D" in base:
        return "conv forward"
    if base == "AddN":
        return "gradient sums"
    if region.lower() == optimizer.lower():
        return "optimizer update"
    if region == encoder:
        if "FusedBatchNorm" in base or "_bn" in layer:
            return "batchnorm"
        if base in ("Relu", "ReluGrad") or "relu" in layer or layer.endswith("_out"):
            return "relu"
        if layer.endswith("_add"):
            return "residual add"
        if "pool" in layer:
            return "pooling"
        return "other"
    if region == projector:
        return "head matmuls" if "MatMul" in base else "head other"
    return "other" if base in _FRAMEWORK_TF else "loss"


_CONV_FORWARD = {"aten::conv2d", "aten::convolution", "aten::_convolution", "aten::mkldnn_convolution"}
_BN = ("batch_norm", "BatchNorm")
_RELU = {"aten::relu", "aten::relu_", "aten::clamp_min", "aten::clamp_min_", "aten::threshold_backward"}
_MATMUL = {"aten::linear", "aten::addmm", "aten::mm", "aten::matmul", "aten::t", "aten::transpose"}


def kind_of_torch_op(region, node, op):
    """The kind (one of `KINDS`) of an op of the peer's step (`lightly_simclr.profile_regions`: its region,
    the autograd node that ran it in the backward pass or `""`, and its ATen name)."""
    if region == "optimizer" or op.startswith("Optimizer."):
        return "optimizer update"
    if op in ("backbone", "head", "loss") or op.startswith("autograd::") or region == "other":
        return "other"  # the Python between ops (a region's self time), the autograd engine's own
    if node and op == "aten::add_":
        return "gradient sums"  # autograd adding the gradients of a tensor that feeds two layers
    if region == "loss":
        return "loss"
    if region == "head":
        return "head matmuls" if op in _MATMUL or node.startswith(("Addmm", "Mm")) else "head other"
    if node.startswith("ConvolutionBackward") or (not node and op in _CONV_FORWARD):
        return "conv backprop input + filter" if node else "conv forward"
    if any(b in node or b in op for b in _BN):
        return "batchnorm"
    if op in _RELU or node.startswith(("Relu", "Threshold")):
        return "relu"
    if node.startswith("Add") or (not node and op in ("aten::add", "aten::add_")):
        return "residual add"
    if node.startswith(("Mean", "AdaptiveAvgPool", "View", "Flatten")) or "mean" in op or "avg_pool" in op:
        return "pooling"
    return "other"


def summarize(ops, kind_of):
    """`({kind: ms per step}, {(kind, op): [ms per step, calls per step]})` of a side's op list."""
    kinds = dict.fromkeys(KINDS, 0.0)
    by_op = {}
    for entry in ops:
        kind = kind_of(entry)
        kinds[kind] += entry["ms_per_step"]
        slot = by_op.setdefault((kind, entry["op"]), [0.0, 0.0])
        slot[0] += entry["ms_per_step"]
        slot[1] += entry["calls_per_step"]
    kinds["conv backprop input + filter"] += kinds["conv backprop input"] + kinds["conv backprop filter"]
    return kinds, by_op


def _env(pairs, flag):
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} takes KEY=VALUE; received {pair!r}")
        env[key] = value
    return env


def _run(command, env):
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # run_measurement passes os.environ on
    try:
        return run_measurement(command)[0]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2, help="timed, then profiled, steps per side")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--ours-precision", choices=("float32", "mixed_bfloat16"), default="float32")
    parser.add_argument("--peer-layout", choices=("nchw", "channels_last"), default="channels_last")
    parser.add_argument("--peer-precision", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument(
        "--peer-python", default=peer_python(), help="the lightly virtualenv's Python (benchmarks/peer/make_venvs.sh)"
    )
    parser.add_argument("--ours-env", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--peer-env", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--skip-peer", action="store_true", help="profile ours only")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if not args.skip_peer:
        check_peer_python(args.peer_python)
    ours_env, peer_env = _env(args.ours_env, "--ours-env"), _env(args.peer_env, "--peer-env")
    data = random_images_file(args.batch_size, "profile_step_")
    common = ["--data", data, "--mode", "profile", "--batch-size", str(args.batch_size)]
    common += ["--steps", str(args.steps), "--warmup", str(args.warmup)]

    ours = _run([sys.executable, OURS, *common, "--precision", args.ours_precision], ours_env)
    names = (ours["encoder_name"], ours["projector_name"], ours["optimizer_name"])
    ours_kinds, ours_by_op = summarize(ours["ops"], lambda e: kind_of_tf_op(e["name"], e["op"], *names))
    sides = {"ours": (ours, ours_kinds, ours_by_op)}
    if not args.skip_peer:
        peer_command = [args.peer_python, THEIRS, *common, "--layout", args.peer_layout]
        peer = _run(peer_command + ["--precision", args.peer_precision], peer_env)
        peer_kinds, peer_by_op = summarize(peer["ops"], lambda e: kind_of_torch_op(e["region"], e["node"], e["op"]))
        sides["peer"] = (peer, peer_kinds, peer_by_op)

    rows = []
    print(f"{'ms per step':32s}" + "".join(f"{side:>12s}" for side in sides))
    for kind in KINDS:
        row = {"kind": kind}
        for side, (_, kinds, _) in sides.items():
            row[f"{side}_ms"] = round(kinds[kind], 1)
        rows.append(row)
        print(f"{kind:32s}" + "".join(f"{row[f'{side}_ms']:12.1f}" for side in sides))
    result = {"rows": rows}
    for side, (raw, kinds, by_op) in sides.items():
        total = sum(kinds[k] for k in KINDS if k != "conv backprop input + filter")
        result[side] = {
            "step_seconds": round(raw["step_seconds"], 3),
            "images_per_s": round(raw["images_per_s"], 2),
            "profiled_step_seconds": round(raw["profiled_step_seconds"], 3),
            "ops_total_ms": round(total, 1),
            "by_op": [
                {"kind": kind, "op": op, "ms_per_step": round(ms, 2), "calls_per_step": round(calls, 1)}
                for (kind, op), (ms, calls) in sorted(by_op.items(), key=lambda item: -item[1][0])
                if ms >= 0.05
            ],
            "top_ops": [{k: round(v, 2) if isinstance(v, float) else v for k, v in e.items()} for e in raw["ops"][:30]],
        }
        print(
            f"{side}: step {raw['step_seconds']:.2f} s unprofiled, {raw['profiled_step_seconds']:.2f} s profiled, "
            f"ops total {total / 1e3:.2f} s"
        )
    result["ours"]["kernels"] = {
        op: {"onednn": op.startswith("_Mkl"), "ms_per_step": round(ms, 1)}
        for op, ms in sorted(
            {op: sum(v[0] for (k, o), v in ours_by_op.items() if o == op) for _, op in ours_by_op}.items(),
            key=lambda item: -item[1],
        )
        if ms >= 0.5
    }
    result["ours"]["onednn_fraction"] = round(
        sum(v["ms_per_step"] for v in result["ours"]["kernels"].values() if v["onednn"])
        / max(1e-9, sum(v["ms_per_step"] for v in result["ours"]["kernels"].values())),
        3,
    )
    result |= {
        "ours_config": {
            "precision": args.ours_precision,
            "env": ours_env,
            "inter_op_threads": ours.get("inter_op_threads"),
            "intra_op_threads": ours.get("intra_op_threads"),
        },
        "peer_config": None
        if args.skip_peer
        else {"layout": args.peer_layout, "precision": args.peer_precision, "env": peer_env},
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "kinds": list(KINDS),
        "load_average": os.getloadavg(),
        "command": command_line(argv),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
