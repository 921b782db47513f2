#!/usr/bin/env bash
# The peers' virtualenvs, made once per machine, beside the clone under benchmarks/.venvs/ (git-ignored):
#   bash benchmarks/peer/make_venvs.sh            # all of them
#   bash benchmarks/peer/make_venvs.sh st onnx    # some
# lightly : PyTorch + lightly (bench_data.py, bench_memory.py, profile_step.py, run_peer_comparison.py)
# st      : sentence-transformers on PyTorch, faiss-cpu (bench_embed.py, bench_search.py)
# onnx    : sentence-transformers' ONNX backend (optimum-onnx pins transformers 4.x: its own virtualenv)
# The scripts' --peer-python defaults point here: benchmarks/.venvs/<name>/bin/python.
# torch==2.13.0 is the CPU build (a CUDA build of several GB otherwise, when pip has no CPU wheel at hand).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
names=("$@"); [ "${#names[@]}" -gt 0 ] || names=(lightly st onnx)
for name in "${names[@]}"; do
  venv=".venvs/$name"
  case "$name" in
    lightly) packages=("torch==2.13.0" lightly) ;;
    st) packages=("torch==2.13.0" "sentence-transformers>=6" faiss-cpu) ;;
    onnx) packages=("torch==2.13.0" "sentence-transformers[onnx]") ;;
    *) echo "unknown peer virtualenv '$name': use lightly, st or onnx" >&2; exit 2 ;;
  esac
  if [ -x "$venv/bin/python" ]; then echo "$venv exists (remove it to rebuild)"; continue; fi
  "$PYTHON" -m venv "$venv.partial"
  "$venv.partial/bin/python" -m pip install -q "${packages[@]}"
  rm -rf "$venv" && mv "$venv.partial" "$venv"  # a failed install leaves no venv that looks finished
  sed -i "s#$(pwd)/$venv.partial#$(pwd)/$venv#g" "$venv"/bin/* 2>/dev/null || true
  echo "$venv: $("$venv/bin/python" -m pip list 2>/dev/null | grep -Ei '^(torch|lightly|sentence-transformers|faiss-cpu|optimum|onnxruntime|transformers) ' | tr -s ' ' | paste -sd ',')"
done
