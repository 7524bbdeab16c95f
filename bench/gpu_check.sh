#!/usr/bin/env bash
# The GPU stack, proven on a machine with an NVIDIA GPU, in one run:
#   1. records the GPU (nvidia-smi) and installs requirements-gpu.txt into its own virtual environment,
#   2. runs the core and network tests on the GPU (GAN_GALLERY_DEVICE=gpu),
#   3. runs the network benchmarks with the GPU engine and keeps their tables.
#
#   bash bench/gpu_check.sh [RESULTS_DIR]        (default: bench-gpu-results; everything lands there)
#
#   GPU_WHEELS=DIR     install from the wheels in DIR only (a machine without a package index)
#   GPU_CHECK_VENV=DIR the virtual environment (default: .venv-gpu)
#   GPU_REQUIREMENTS=FILE  the stack to install (default: requirements-gpu.txt)
#   PADDLE_GPU_CUBINS="8.0 9.0"  the compute capabilities that stack's Paddle carries machine code for
#   GPU_CHECK_QUICK=1  benchmarks with one repeat and no videos (a short lease)
#
# It stops at the first step that fails, saying which, so that a short lease is not spent on the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

results="${1:-bench-gpu-results}"
venv="${GPU_CHECK_VENV:-.venv-gpu}"
requirements="${GPU_REQUIREMENTS:-requirements-gpu.txt}"
python="${PYTHON:-python3}"
mkdir -p "$results"

step() { echo "== gpu_check: $*" | tee -a "$results/steps.log"; }
fail() { echo "gpu_check: $*" | tee -a "$results/steps.log" >&2; exit 1; }

step "1/3 the GPU"
command -v nvidia-smi >/dev/null 2>&1 || fail "no nvidia-smi here: this check needs an NVIDIA GPU and its driver"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv | tee "$results/gpu.csv" \
  || fail "nvidia-smi found no GPU"

# The machine code in PyPI's paddlepaddle-gpu 2.6.2 (CUDA 11.8), read from the .nv_fatbin of its libphi.so:
# cubins for these compute capabilities and no PTX the driver could compile for others. A cubin runs on
# its own major version at an equal or higher minor one (8.6 code runs on 8.9), so Hopper (9.0: H100,
# H200) and later run none of its kernels: refuse before a long install rather than fail in run_check.
paddle_cubins="${PADDLE_GPU_CUBINS:-6.1 7.0 7.5 8.0 8.6}"
while IFS=, read -r name capability; do
  capability="${capability// /}"
  runs=no
  for cubin in $paddle_cubins; do
    if [ "${cubin%%.*}" = "${capability%%.*}" ] && [ "${cubin#*.}" -le "${capability#*.}" ]; then runs=yes; fi
  done
  [ "$runs" = yes ] || fail "the GPU '$name' (compute capability $capability) runs none of the kernels in \
$requirements's paddlepaddle-gpu (machine code for $paddle_cubins only, no PTX); a newer GPU needs a Paddle \
GPU build with its architecture (Paddle 3 from Paddle's own package index): name it in a requirements file \
given as GPU_REQUIREMENTS, and set PADDLE_GPU_CUBINS to the capabilities it carries"
done < <(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader)

step "1/3 installing $requirements into $venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || fail "could not create the virtual environment $venv"
pip_install=("$venv/bin/python" -m pip install -q)
if [ -n "${GPU_WHEELS:-}" ]; then
  [ -d "$GPU_WHEELS" ] || fail "GPU_WHEELS=$GPU_WHEELS is not a folder"
  pip_install+=(--no-index --find-links "$GPU_WHEELS")
fi
"${pip_install[@]}" -r "$requirements" pytest pytest-timeout psutil 2>&1 | tee "$results/install.log" \
  || fail "installing $requirements failed (see $results/install.log; offline: set GPU_WHEELS)"
"$venv/bin/python" - <<'EOF' 2>&1 | tee "$results/paddle.txt" || fail "Paddle does not see the GPU (see $results/paddle.txt)"
import paddle
count = paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0
print(f"paddle {paddle.__version__}, compiled with CUDA {paddle.version.cuda()}, cuDNN {paddle.version.cudnn()}, GPUs seen: {count}")
assert count > 0, "this Paddle build sees no CUDA device"
paddle.utils.run_check()
EOF

export GAN_GALLERY_DEVICE=gpu GAN_REFERENCE_DIR="${GAN_REFERENCE_DIR:-../shared/reference}"
step "2/3 core and network tests on the GPU"
set +e
"$venv/bin/python" -m pytest tests/core tests/nets -m "not slow" -q -p no:cacheprovider --timeout=600 \
  -o addopts="" 2>&1 | tee "$results/tests.log"
tests_status=${PIPESTATUS[0]}
set -e

step "3/3 benchmarks with the GPU engine"
repeats=3 video=()
if [ "${GPU_CHECK_QUICK:-0}" = 1 ]; then repeats=1 video=(--no-video); fi
"$venv/bin/python" -m bench.translate --repeats "$repeats" "${video[@]}" 2>&1 | tee "$results/translate.md"
"$venv/bin/python" -m bench.face_gen --repeats "$repeats" --no-walk 2>&1 | tee "$results/face_gen.md"
"$venv/bin/python" -m bench.restore --only speed --only vsr --repeats "$repeats" 2>&1 | tee "$results/restore.md"

step "done: tests exit status $tests_status; tables in $results/"
exit "$tests_status"
