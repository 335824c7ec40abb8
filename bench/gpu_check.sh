#!/usr/bin/env bash
# GPU figures in under 5 minutes, on a machine with onnxruntime-gpu installed (`make setup-gpu`;
# the machine needs no internet: the R50 test network is built locally).
#
#   bench/gpu_check.sh [OUTPUT_DIR]        # default: $OUT, else /tmp/face-atlas-gpu-check
#
# Writes nvidia-smi.txt, check-devices.txt, gpu-tests.txt and bench-gpu.txt there, and prints them.
# Copy the bench table into bench/README.md with the device name from nvidia-smi.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[[ -x "$PY" ]] || PY=python3
DEST="${1:-${OUT:-/tmp/face-atlas-gpu-check}}"
mkdir -p "$DEST"
DET=../shared/models/scrfd/scrfd_500m.onnx
[[ -f "$DET" ]] || DET="${DETECTOR:?set DETECTOR to an SCRFD ONNX file}"
IMAGES="${IMAGES:-../shared/data/celebrity-faces}"
CORES=$(nproc)

nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv | tee "$DEST/nvidia-smi.txt"
"$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" | tee -a "$DEST/nvidia-smi.txt"

# 1. Every session on its GPU (exit 1 otherwise), warm-up throughput per GPU.
timeout 90 "$PY" build_report.py --check-devices --detector "$DET" 2>&1 | tee "$DEST/check-devices.txt"

# 2. The GPU-only tests (they skip on CPU machines).
timeout 150 "$PY" -m pytest -q -m gpu tests/test_devices.py tests/test_networks.py tests/test_extract.py \
  tests/test_scrfd_batch.py tests/test_precision.py 2>&1 \
  | tail -n 15 | tee "$DEST/gpu-tests.txt"

# 3. Stock loop vs pipeline on one GPU, warm steady state, R50-sized recogniser; then every GPU end to end.
timeout 240 "$PY" bench/bench_extract.py --images "$IMAGES" --detector "$DET" --devices cuda:0 \
  --stock-providers CUDAExecutionProvider,CPUExecutionProvider --n-images 3000 --warmup 128 \
  --batch-size 256 --decode-threads "$CORES" --end-to-end --multi-gpu 2>&1 | tee "$DEST/bench-gpu.txt"
