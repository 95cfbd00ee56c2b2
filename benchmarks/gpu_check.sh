#!/usr/bin/env bash
# Everything the GPU work needs from a lent GPU machine, in parts that fit a short lease:
#
#   bash benchmarks/gpu_check.sh [PART ...]     # on the GPU machine, from the repository root
#
# Parts (default: all but all-tests and rerun, in this order; about 6 minutes together on an H200):
#   info     what the machine has (nvidia-smi, Python, NumPy, CuPy, torch)
#   tests    every GPU test (pytest -m cuda: the 'cuda' parameter of every test that takes the
#            `device` fixture, and the GPU-only tests; tests/conftest.py sets the marker; the CPU
#            half is what CI runs anyway), on xdist workers, junit XML kept for the failures
#   all-tests  the whole suite, CPU and CUDA parameters both
#   rerun    the node ids listed in benchmarks/gpu_rerun.txt (after a fix)
#   examples every example's --smoke run with --device cuda (never run on a GPU as of session 7)
#   bench    bench_rnn.py on the GPU against torch CUDA (configs A, B, C, L; all three cells)
#   tf32     config L against torch with its default TF32 (cuDNN's RNNs use tensor cores), ours in
#            float32, then both with TF32 (mg.backends.cuda.matmul.allow_tf32)
#   product  host time per call of cupy.matmul vs cupy.dot (the per-step product), then configs A
#            and B with matmul as the step product
#   nofused  LSTM at L once more with the fused CUDA step kernels switched off
#   w2v      bench_word2vec.py on the GPU (words/s)
#
# Logs go to $OUT (the device tool brings that folder back) or to a fresh temporary folder.
# Each part has its own time limit (PART_LIMIT_<part> overrides it, in seconds), so one slow
# part cannot eat the others' time; pytest is stopped with SIGINT so it still writes its
# summary and XML. No install step: the machine may be offline, so the package is used from
# the checkout through PYTHONPATH (it needs only NumPy and CuPy; pytest, pytest-xdist,
# pytest-timeout and hypothesis for the tests).
set -u -o pipefail
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
echo "logs in $OUT"
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(info tests examples bench tf32 nofused w2v)

limit() {  # limit PART DEFAULT -> seconds
  local var="PART_LIMIT_$1"
  echo "${!var:-$2}"
}

XDIST=""
"$PY" -c "import xdist" 2>/dev/null && XDIST="-n ${WORKERS:-12}"
PYTEST_TIMEOUT=""
"$PY" -c "import pytest_timeout" 2>/dev/null && PYTEST_TIMEOUT="--timeout 120"

run_pytest() {  # run_pytest NAME LIMIT ARGS...
  local name=$1 lim=$2
  shift 2
  echo "== pytest $name ($XDIST, limit ${lim}s): $*" | tee "$OUT/pytest_$name.txt"
  timeout -s INT -k 20 "$lim" "$PY" -m pytest -q -p no:cacheprovider $XDIST $PYTEST_TIMEOUT \
    -ra --tb=short --durations=15 --junitxml="$OUT/junit_$name.xml" "$@" 2>&1 | tee -a "$OUT/pytest_$name.txt"
  echo "pytest exit: $?" | tee -a "$OUT/pytest_$name.txt"
}

for part in "${PARTS[@]}"; do
  case "$part" in
  info)
    {
      date -u
      nvidia-smi || echo "nvidia-smi: not found"
      "$PY" - <<'PYEOF'
import platform
import numpy
print("python", platform.python_version(), "numpy", numpy.__version__)
for name in ("cupy", "scipy", "torch", "hypothesis", "pytest", "xdist", "gensim"):
    try:
        mod = __import__(name)
        print(name, getattr(mod, "__version__", "?"))
    except Exception as e:  # report and go on: each part below says what it skips
        print(name, "not available:", type(e).__name__, e)
import minigrad
print("minigrad.cuda_available():", minigrad.cuda_available())
try:
    import cupy
    print("cupy device:", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
except Exception as e:
    print("cupy device: ?", e)
PYEOF
    } 2>&1 | tee "$OUT/machine.txt"
    ;;
  tests)
    run_pytest cuda "$(limit tests 240)" -m cuda
    ;;
  all-tests)
    run_pytest all "$(limit all_tests 400)"
    ;;
  rerun)
    mapfile -t IDS < <(grep -v '^#' benchmarks/gpu_rerun.txt 2>/dev/null | grep .)
    if [ ${#IDS[@]} -eq 0 ]; then echo "rerun: benchmarks/gpu_rerun.txt lists no tests"; else
      run_pytest rerun "$(limit rerun 150)" -m cuda "${IDS[@]}"; fi  # (their CPU cases pass in CI)
    ;;
  examples)
    echo "== every example's --smoke run on cuda" | tee "$OUT/examples_cuda.txt"
    for ex in examples/*.py; do
      case "$ex" in examples/_*) continue ;; esac
      if (cd "$(mktemp -d)" && timeout "$(limit example 90)" "$PY" "$OLDPWD/$ex" --smoke --quiet --json \
          --device "${EXAMPLE_DEVICE:-cuda}") >"$OUT/example_out.txt" 2>&1; then
        echo "ok     $ex: $(tail -1 "$OUT/example_out.txt" | cut -c1-160)" | tee -a "$OUT/examples_cuda.txt"
      else
        echo "FAILED $ex:" | tee -a "$OUT/examples_cuda.txt"
        tail -15 "$OUT/example_out.txt" | tee -a "$OUT/examples_cuda.txt"
      fi
    done
    rm -f "$OUT/example_out.txt"
    ;;
  bench)
    echo "== bench_rnn --device cuda" | tee "$OUT/bench_rnn_cuda.txt"
    timeout "$(limit bench 150)" "$PY" benchmarks/bench_rnn.py --device cuda --configs A,B,C,L \
      --repeats 10 --rounds 1 2>&1 | tee -a "$OUT/bench_rnn_cuda.txt"
    ;;
  tf32)
    echo "== bench_rnn --device cuda --tf32 torch|both (config L)" | tee "$OUT/bench_rnn_tf32.txt"
    for mode in torch both; do
      timeout "$(limit tf32 45)" "$PY" benchmarks/bench_rnn.py --device cuda --configs L --tf32 "$mode" \
        --repeats 10 --rounds 1 2>&1 | tee -a "$OUT/bench_rnn_tf32.txt"
    done
    ;;
  product)
    echo "== the per-step product: cupy.matmul vs cupy.dot (host time per call, then bench A/B with matmul)" \
      | tee "$OUT/bench_product.txt"
    timeout "$(limit product 60)" "$PY" - <<'PYEOF' 2>&1 | tee -a "$OUT/bench_product.txt"
import sys, time
import cupy
sys.argv = ["bench_rnn", "--device", "cuda", "--configs", "A,B", "--repeats", "10", "--rounds", "1"]
for shape in [(1, 128, 512), (32, 256, 1024), (256, 1024, 4096)]:
    m, k, n = shape
    a = cupy.random.rand(m, k, dtype=cupy.float32)
    b = cupy.random.rand(k, n, dtype=cupy.float32)
    c = cupy.empty((m, n), dtype=cupy.float32)
    for name, fn in (("matmul", cupy.matmul), ("dot", cupy.dot), ("matmul", cupy.matmul), ("dot", cupy.dot)):
        for _ in range(20):
            fn(a, b, out=c)
        cupy.cuda.Device().synchronize()
        t0 = time.perf_counter()
        for _ in range(200):
            fn(a, b, out=c)
        host = (time.perf_counter() - t0) / 200
        cupy.cuda.Device().synchronize()
        total = (time.perf_counter() - t0) / 200
        print(f"{name:7s} {shape}: host {host * 1e6:7.1f} us/call, with the GPU's work {total * 1e6:7.1f} us/call")
sys.path.insert(0, "benchmarks")
from minigrad.ops import gpu_kernels
gpu_kernels.step_product = "matmul"
import bench_rnn
print("-- bench_rnn with step_product = matmul")
bench_rnn.main()
PYEOF
    ;;
  nofused)
    echo "== bench_rnn --device cuda, LSTM at L without the fused step kernels" | tee "$OUT/bench_rnn_nofused.txt"
    timeout "$(limit nofused 60)" "$PY" - <<'PYEOF' 2>&1 | tee -a "$OUT/bench_rnn_nofused.txt"
import sys
sys.argv = ["bench_rnn", "--device", "cuda", "--configs", "L", "--cells", "lstm", "--repeats", "10", "--rounds", "1"]
sys.path.insert(0, "benchmarks")
from minigrad.ops import gpu_kernels
gpu_kernels.enabled = False
import bench_rnn
bench_rnn.main()
PYEOF
    ;;
  w2v)
    echo "== bench_word2vec --device cuda" | tee "$OUT/bench_word2vec_cuda.txt"
    timeout "$(limit w2v 100)" "$PY" benchmarks/bench_word2vec.py --skip-quality --skip-numpy-only \
      --tokens 1000000 --device cuda --batch-pairs 1024,16384 2>&1 | tee -a "$OUT/bench_word2vec_cuda.txt"
    ;;
  *)
    echo "unknown part: $part" >&2
    exit 2
    ;;
  esac
done

echo "== done; summary lines:"
grep -h -E "passed|failed|error" "$OUT"/pytest_*.txt 2>/dev/null | tail -6
grep -h -E "^(A|B|C|L) |^==|us/call" "$OUT"/bench_rnn_*.txt "$OUT"/bench_product.txt 2>/dev/null
grep -h -E "words/s|minigrad|gensim" "$OUT/bench_word2vec_cuda.txt" 2>/dev/null | tail -5
grep -h -E "^(ok|FAILED) " "$OUT/examples_cuda.txt" 2>/dev/null
