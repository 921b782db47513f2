"""Ours against PyTorch + lightly: the same SimCLR step, side by side.

Each measurement is a fresh subprocess (`benchmarks/peer/keras_simclr.py` for
ours, `benchmarks/peer/lightly_simclr.py` under the peer's virtualenv for
theirs), and ours and theirs alternate within every round (the order reversed
every other round), so that drifts of the machine hit both alike. Both read
the same uint8 images (`--data`, or 4,096 random 32x32x3 images made here).
Each round also times the 4096 x 4096 float32 matmul of TensorFlow, PyTorch
(the peer's virtualenv) and numpy (its BLAS; `peer/matmul.py`), each in a
fresh process: the fastest median of the three is the machine's best matmul
(`best_matmul_gflops`), the reference for the model's FLOPs rate (6.7 GFLOP
per source image: 2 views x 3 (forward + backward) x 0.56 GMAC x 2),
`flops_fraction_of_best_matmul`. When any configuration runs in bfloat16, it
also times TensorFlow's matmul in bfloat16 (the rate of CPUs with
AVX512_BF16 or AMX).

    python benchmarks/run_peer_comparison.py [--rounds 3] [--steps 3] [--warmup 1] \
        [--ours-precisions float32 mixed_bfloat16] \
        [--peer-configs nchw:0 channels_last:0 channels_last_bf16:0] \
        [--peer-python benchmarks/.venvs/lightly/bin/python] [--lock runs/BENCH_RUNNING] --out FILE

Ours runs under each Keras dtype policy of `--ours-precisions`. Peer
configurations are `LAYOUT[_bf16]:WORKERS` (`nchw` or `channels_last`;
`_bf16` runs its forward pass and loss under `torch.autocast("cpu",
dtype=torch.bfloat16)`; DataLoader worker processes for end-to-end). The
headline numbers compare ours' best configuration with the peer's best
(medians, end-to-end), each over all its configurations whatever their
precision; `by_precision` also compares float32 with float32 and bfloat16
with bfloat16. The model's FLOP/s is reported as a fraction of the machine's
best float32 matmul (`flops_fraction_of_best_matmul`), of TensorFlow's
(`flops_fraction_of_matmul`) and, with bfloat16 runs, of TensorFlow's
bfloat16 one (`flops_fraction_of_bf16_matmul`). The CPU's model, class and
flags are in `machine`. Peak RSS is each
subprocess's `ru_maxrss` from `wait4` (the largest of it and its waited-for
children, such as DataLoader workers), the largest over rounds; the headline
`ours_peak_rss_mib` and `peer_peak_rss_mib` are those of the two headline
configurations. The machine's speed drifts between rounds, so ratios are
also given as the median of each round's own ratio (`*_paired`: ours and
theirs, or end-to-end and compute, measured in the same round).
`--lock FILE` waits until FILE does not exist and holds it during each
round (not between rounds).
"""

import argparse
import atexit
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _results import check_peer_python, command_line, peer_python, write_result  # noqa: E402 (benchmarks/ is on sys.path)

GFLOP_PER_IMAGE = 6.7
HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.join(HERE, "peer", "keras_simclr.py")
THEIRS = os.path.join(HERE, "peer", "lightly_simclr.py")
MATMUL = os.path.join(HERE, "peer", "matmul.py")
MATMUL_LIBRARIES = ("tensorflow", "torch", "numpy")


def run_measurement(command):
    """Runs `command`, returns (its last JSON line as a dict, its peak RSS in MiB)."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    with tempfile.TemporaryFile("w+") as errors:
        # stderr to a file: a full pipe would block the child while we read stdout.
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        out = proc.stdout.read()
        errors.seek(0)
        err = errors.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode}:\n{err[-3000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]), usage.ru_maxrss / 1024.0


class Lock:
    """The machine's benchmark lock: a file whose existence means "busy"."""

    def __init__(self, path):
        self.path = path
        atexit.register(self.release)
        self.held = False

    def acquire(self):
        if not self.path:
            return
        while os.path.exists(self.path):
            print(f"waiting for {self.path} ...", flush=True)
            time.sleep(60)
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(f"perf run_peer_comparison.py {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        self.held = True

    def release(self):
        if self.held:
            self.held = False
            if os.path.exists(self.path):
                os.remove(self.path)


def _median(values):
    return float(statistics.median(values))


def random_images_file(count, prefix):
    """Path of a new `.npy` of `count` random uint8 32x32x3 images (seed 0), in a fresh temporary folder."""
    path = os.path.join(tempfile.mkdtemp(prefix=prefix), "images.npy")
    np.save(path, np.random.default_rng(0).integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8))
    return path


def paired_median(numerators, denominators):
    """Median over rounds of the round-by-round ratio: the machine's drift between rounds cancels."""
    return _median([a / b for a, b in zip(numerators, denominators, strict=True)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--ours-precisions", nargs="+", default=["float32"], choices=("float32", "mixed_bfloat16"), metavar="POLICY"
    )
    parser.add_argument(
        "--peer-configs", nargs="+", default=["nchw:0", "channels_last:0"], metavar="LAYOUT[_bf16]:WORKERS"
    )
    parser.add_argument(
        "--peer-python", default=peer_python(), help="the lightly virtualenv's Python (benchmarks/peer/make_venvs.sh)"
    )
    parser.add_argument("--data", help="uint8 .npy [N, 32, 32, 3]; default: 4,096 random images")
    parser.add_argument("--lock", help="benchmark lock file, held during each round")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    check_peer_python(args.peer_python)
    configs = []  # (name, layout, precision, workers)
    for config in args.peer_configs:
        name, _, workers = config.partition(":")
        layout, precision = (name[: -len("_bf16")], "bfloat16") if name.endswith("_bf16") else (name, "float32")
        if layout not in ("nchw", "channels_last") or not workers.isdigit():
            parser.error(
                f"--peer-configs takes LAYOUT[_bf16]:WORKERS with LAYOUT nchw or channels_last; received {config}"
            )
        configs.append((name, layout, precision, workers))
    ours_precisions = list(dict.fromkeys(args.ours_precisions))
    data = args.data
    if data is None:
        data = random_images_file(4096, "peer_comparison_")
    common = [
        "--data",
        data,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--batch-size",
        str(args.batch_size),
    ]

    precision_of = {}  # who -> "float32" or "bfloat16"

    def ours(mode, policy):
        who = "ours" if policy == "float32" else f"ours {policy}"
        precision_of[who] = "float32" if policy == "float32" else "bfloat16"
        return (who, mode, [sys.executable, OURS, "--mode", mode, "--precision", policy, *common])

    def peer(mode, name, layout, precision, workers=None):
        who = f"peer {name}" + ("" if workers is None else f" workers={workers}")
        precision_of[who] = precision
        command = [args.peer_python, THEIRS, "--mode", mode, "--layout", layout, "--precision", precision, *common]
        return (who, mode, command + ([] if workers is None else ["--workers", workers]))

    plan = [ours("compute", p) for p in ours_precisions]
    plan += [peer("compute", *c[:3]) for c in dict.fromkeys(c[:3] for c in configs)]
    plan += [ours("e2e", p) for p in ours_precisions]
    plan += [peer("e2e", *c) for c in configs]
    rates = {(who, mode): [] for who, mode, _ in plan}
    rss = {(who, mode): [] for who, mode, _ in plan}
    losses = {(who, mode): [] for who, mode, _ in plan}
    matmul_dtypes = ["float32"] + (["bfloat16"] if "bfloat16" in precision_of.values() else [])
    matmul = {dtype: [] for dtype in matmul_dtypes}  # TensorFlow's
    library_matmul = {library: [] for library in MATMUL_LIBRARIES}  # float32
    library_command = {
        "torch": [args.peer_python, MATMUL, "--library", "torch"],
        "numpy": [sys.executable, MATMUL, "--library", "numpy"],
    }
    lock = Lock(args.lock)
    for r in range(args.rounds):
        lock.acquire()
        try:
            order = plan if r % 2 == 0 else plan[::-1]
            for who, mode, command in order:
                result, peak = run_measurement(command)
                rates[who, mode].append(result["images_per_s"])
                rss[who, mode].append(peak)
                losses[who, mode].append(result["loss"])
                print(
                    f"round {r + 1}: {who:36s} {mode:8s} {result['images_per_s']:7.2f} images/s, "
                    f"peak RSS {peak:6.0f} MiB",
                    flush=True,
                )
            for dtype in matmul_dtypes:
                result, _ = run_measurement([sys.executable, OURS, "--mode", "matmul", "--matmul-dtype", dtype])
                matmul[dtype].append(result["matmul_gflops"])
                print(f"round {r + 1}: TensorFlow 4096^2 {dtype} matmul {matmul[dtype][-1]:.1f} GFLOP/s", flush=True)
            library_matmul["tensorflow"].append(matmul["float32"][-1])
            for library, command in library_command.items():
                result, _ = run_measurement(command)
                library_matmul[library].append(result["matmul_gflops"])
                rate = result["matmul_gflops"]
                print(f"round {r + 1}: {library} 4096^2 float32 matmul {rate:.1f} GFLOP/s", flush=True)
        finally:
            lock.release()

    median = {key: _median(values) for key, values in rates.items()}

    def best(side, mode, precision=None):
        """(who, median) of the fastest configuration of `side` in `mode`."""
        candidates = {
            who: v
            for (who, m), v in median.items()
            if m == mode and who.startswith(side) and precision in (None, precision_of[who])
        }
        if not candidates:
            return None, None
        who = max(candidates, key=candidates.get)
        return who, candidates[who]

    ours_best, ours_e2e = best("ours", "e2e")
    ours_compute = median[ours_best, "compute"]  # the same configuration, fed from memory
    best_e2e, peer_best_e2e = best("peer", "e2e")
    best_compute, peer_best_compute = best("peer", "compute")
    matmul_rate = _median(matmul["float32"])
    bf16_rate = _median(matmul["bfloat16"]) if "bfloat16" in matmul else None
    library_rates = {library: _median(values) for library, values in library_matmul.items()}
    best_library = max(library_rates, key=library_rates.get)
    best_rate = library_rates[best_library]
    by_precision = {}
    for precision in ("float32", "bfloat16"):
        o_who, o_e2e = best("ours", "e2e", precision)
        p_who, p_e2e = best("peer", "e2e", precision)
        if o_who and p_who:
            by_precision[precision] = {
                "ours_config": o_who,
                "ours_e2e_images_per_s": round(o_e2e, 2),
                "ours_compute_images_per_s": round(median[o_who, "compute"], 2),
                "peer_config": p_who,
                "peer_e2e_images_per_s": round(p_e2e, 2),
                "ratio_e2e": round(o_e2e / p_e2e, 3),
                "ratio_e2e_paired": round(paired_median(rates[o_who, "e2e"], rates[p_who, "e2e"]), 3),
                "e2e_over_compute_paired": round(paired_median(rates[o_who, "e2e"], rates[o_who, "compute"]), 3),
                "ours_peak_rss_mib": round(max(rss[o_who, "e2e"]), 1),
                "peer_peak_rss_mib": round(max(rss[p_who, "e2e"]), 1),
                "flops_fraction_of_best_matmul": round(o_e2e * GFLOP_PER_IMAGE / best_rate, 3),
                "peer_flops_fraction_of_best_matmul": round(p_e2e * GFLOP_PER_IMAGE / best_rate, 3),
                "flops_fraction_of_matmul": round(o_e2e * GFLOP_PER_IMAGE / matmul_rate, 3),
            }
            if bf16_rate:
                by_precision[precision]["flops_fraction_of_bf16_matmul"] = round(o_e2e * GFLOP_PER_IMAGE / bf16_rate, 3)
    result = {
        "ours_e2e_images_per_s": round(ours_e2e, 2),
        "ours_e2e_config": ours_best,
        "ours_precision": precision_of[ours_best],
        "ours_compute_images_per_s": round(ours_compute, 2),
        "peer_best_e2e_images_per_s": round(peer_best_e2e, 2),
        "peer_best_e2e_config": best_e2e,
        "peer_best_e2e_precision": precision_of[best_e2e],
        "peer_best_compute_images_per_s": round(peer_best_compute, 2),
        "peer_best_compute_config": best_compute,
        "ratio_e2e": round(ours_e2e / peer_best_e2e, 3),
        "ratio_e2e_paired": round(paired_median(rates[ours_best, "e2e"], rates[best_e2e, "e2e"]), 3),
        "ratio_compute": round(ours_compute / peer_best_compute, 3),
        "best_matmul_gflops": round(best_rate, 1),
        "best_matmul_library": best_library,
        "matmul_gflops_by_library": {library: round(rate, 1) for library, rate in library_rates.items()},
        "flops_fraction_of_best_matmul": round(ours_e2e * GFLOP_PER_IMAGE / best_rate, 3),
        "flops_fraction_of_best_matmul_compute": round(ours_compute * GFLOP_PER_IMAGE / best_rate, 3),
        "peer_flops_fraction_of_best_matmul": round(peer_best_e2e * GFLOP_PER_IMAGE / best_rate, 3),
        "matmul_gflops": round(matmul_rate, 1),
        "model_gflops_e2e": round(ours_e2e * GFLOP_PER_IMAGE, 1),
        "model_gflops_compute": round(ours_compute * GFLOP_PER_IMAGE, 1),
        "flops_fraction_of_matmul": round(ours_e2e * GFLOP_PER_IMAGE / matmul_rate, 3),
        "flops_fraction_of_matmul_compute": round(ours_compute * GFLOP_PER_IMAGE / matmul_rate, 3),
        "e2e_over_compute": round(ours_e2e / ours_compute, 3),
        "e2e_over_compute_paired": round(paired_median(rates[ours_best, "e2e"], rates[ours_best, "compute"]), 3),
        "peer_e2e_over_compute": round(peer_best_e2e / median[best_e2e.split(" workers=")[0], "compute"], 3),
        "ours_peak_rss_mib": round(max(rss[ours_best, "e2e"]), 1),
        "peer_peak_rss_mib": round(max(rss[best_e2e, "e2e"]), 1),
    }
    if bf16_rate:
        result.update(
            {
                "bf16_matmul_gflops": round(bf16_rate, 1),
                "flops_fraction_of_bf16_matmul": round(ours_e2e * GFLOP_PER_IMAGE / bf16_rate, 3),
                "flops_fraction_of_bf16_matmul_compute": round(ours_compute * GFLOP_PER_IMAGE / bf16_rate, 3),
                "rounds_bf16_matmul_gflops": [round(x, 1) for x in matmul["bfloat16"]],
            }
        )
    result |= {
        "by_precision": by_precision,
        "peak_rss_mib": {f"{who} {mode}": round(max(v), 1) for (who, mode), v in rss.items()},
        "median_images_per_s": {f"{who} {mode}": round(v, 2) for (who, mode), v in median.items()},
        "rounds_images_per_s": {f"{who} {mode}": [round(x, 2) for x in v] for (who, mode), v in rates.items()},
        "last_loss": {f"{who} {mode}": round(v[-1], 4) for (who, mode), v in losses.items()},
        "rounds_matmul_gflops": [round(x, 1) for x in matmul["float32"]],
        "rounds_matmul_gflops_by_library": {lib: [round(x, 1) for x in v] for lib, v in library_matmul.items()},
        "gflop_per_image": GFLOP_PER_IMAGE,
        "images_are": "source images per second; each gives 2 augmented views through the encoder",
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "command": command_line(argv),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
