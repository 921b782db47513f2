"""The machine's 4096 x 4096 float32 matmul rate in numpy or PyTorch, in GFLOP/s: the reference rates that
`../run_peer_comparison.py` sets TensorFlow's (`keras_simclr.py --mode matmul`) and the model's beside.

Runs under either interpreter (numpy is in both; torch only in the peer's virtualenv) and prints one JSON
line: `matmul_gflops`, `library`, its version and, for numpy, the BLAS it calls.

    python benchmarks/peer/matmul.py --library numpy
    benchmarks/.venvs/lightly/bin/python benchmarks/peer/matmul.py --library torch [--threads 2]
"""

import argparse
import json
import time

import numpy as np


def _rate(product, size, repeats):
    """Median GFLOP/s of `product()` (one `size`^2 matmul, 2 size^3 FLOPs) over `repeats` timed calls after one
    untimed call."""
    product()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(times)) / 1e9


def _blas():
    """The BLAS numpy calls, as numpy reports it (e.g. `scipy-openblas 0.3.29 ... Zen`)."""
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # the report's shape differs between numpy versions
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", choices=("numpy", "torch"), required=True)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (numpy: its BLAS default)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.size, args.size), dtype=np.float32)
    b = rng.standard_normal((args.size, args.size), dtype=np.float32)
    if args.library == "numpy":
        rate = _rate(lambda: a @ b, args.size, args.repeats)
        info = {"numpy": np.__version__, "blas": _blas()}
    else:
        import torch

        torch.set_num_threads(args.threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        with torch.no_grad():
            rate = _rate(lambda: torch.mm(ta, tb), args.size, args.repeats)
        info = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    print(json.dumps({"matmul_gflops": rate, "library": args.library, "dtype": "float32", **info}), flush=True)


if __name__ == "__main__":
    main()
