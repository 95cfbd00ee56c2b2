#!/usr/bin/env bash
# Everything the GPU issue needs from a lent GPU machine, in one call of about 8 minutes:
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine, from the repository root
#
# 1. what the machine has (nvidia-smi, Python, NumPy, CuPy, torch);
# 2. the whole test suite with the 'cuda' device parameter switched on (every test that
#    takes the `device` fixture runs on CPU and on the GPU), including tests/test_gpu_sync.py;
# 3. bench_rnn.py on the GPU against torch CUDA (configs A, B, C and the large L, all three cells),
#    with the fused step kernels, then LSTM at L once more with them switched off;
# 4. bench_word2vec.py on the GPU (words/s; gensim rows only where gensim is installed).
#
# Logs go to $OUT (the device tool brings that folder back) or to a fresh temporary folder.
# Each part has its own time limit, so one slow part cannot eat the others' time. No
# install step: the machine may be offline, so the package is used from the checkout
# through PYTHONPATH (it needs only NumPy and CuPy; pytest and hypothesis for the tests).
set -u -o pipefail
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
echo "logs in $OUT"

{
  date -u
  nvidia-smi || echo "nvidia-smi: not found"
  "$PY" - <<'EOF'
import platform
import numpy
print("python", platform.python_version(), "numpy", numpy.__version__)
for name in ("cupy", "scipy", "torch", "hypothesis", "pytest", "gensim"):
    try:
        mod = __import__(name)
        print(name, getattr(mod, "__version__", "?"))
    except Exception as e:  # report and go on: each part below says what it skips
        print(name, "not available:", type(e).__name__, e)
import minigrad
print("minigrad.cuda_available():", minigrad.cuda_available())
EOF
} 2>&1 | tee "$OUT/machine.txt"

# xdist (when installed) runs the suite on several processes; CuPy compiles each kernel once
# per process on first use, which dominates a cold GPU run.
XDIST=""
"$PY" -c "import xdist" 2>/dev/null && XDIST="-n 8"
echo "== pytest (cpu + cuda) $XDIST" | tee "$OUT/pytest.txt"
timeout 330 "$PY" -m pytest -q -p no:cacheprovider $XDIST -ra 2>&1 | tee -a "$OUT/pytest.txt"
echo "pytest exit: $?" | tee -a "$OUT/pytest.txt"

echo "== bench_rnn --device cuda" | tee "$OUT/bench_rnn_cuda.txt"
timeout 150 "$PY" benchmarks/bench_rnn.py --device cuda --configs A,B,C,L --repeats 10 --rounds 1 2>&1 | tee -a "$OUT/bench_rnn_cuda.txt"

echo "== bench_rnn --device cuda, LSTM at L without the fused step kernels" | tee -a "$OUT/bench_rnn_cuda.txt"
timeout 60 "$PY" - <<'EOF' 2>&1 | tee -a "$OUT/bench_rnn_cuda.txt"
import sys
sys.argv = ["bench_rnn", "--device", "cuda", "--configs", "L", "--cells", "lstm", "--repeats", "10", "--rounds", "1"]
sys.path.insert(0, "benchmarks")
from minigrad.ops import gpu_kernels
gpu_kernels.enabled = False
import bench_rnn
bench_rnn.main()
EOF

echo "== bench_word2vec --device cuda" | tee "$OUT/bench_word2vec_cuda.txt"
timeout 100 "$PY" benchmarks/bench_word2vec.py --skip-quality --skip-numpy-only --tokens 1000000 --device cuda 2>&1 \
  | tee -a "$OUT/bench_word2vec_cuda.txt"

echo "== done; summary lines:"
grep -h -E "passed|failed|error" "$OUT/pytest.txt" | tail -3
grep -h -E "^(A|B|C|L) |^==" "$OUT/bench_rnn_cuda.txt"
grep -h -E "words/s|minigrad|gensim" "$OUT/bench_word2vec_cuda.txt" | tail -5
