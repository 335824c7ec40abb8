#!/usr/bin/env bash
# Put onnxruntime-gpu (requirements-gpu.txt) in place of the CPU onnxruntime in a virtualenv, and
# keep it there: safe to run again after any `pip install -r requirements.txt` (insightface
# depends on the CPU `onnxruntime` and reinstalls it). Usage: scripts/install_gpu_runtime.sh .venv/bin/python
set -euo pipefail
PY="${1:-.venv/bin/python}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
want="$(grep -E '^onnxruntime-gpu' "$HERE/requirements-gpu.txt" | sed -E 's/.*==//')"
have_gpu="$("$PY" -m pip show onnxruntime-gpu 2>/dev/null | sed -n 's/^Version: //p')"
have_cpu="$("$PY" -m pip show onnxruntime 2>/dev/null | sed -n 's/^Version: //p')"
if [[ -z "$have_cpu" && "$have_gpu" == "$want" ]]; then
  echo "onnxruntime-gpu $want already in place"
else
  # Both distributions own onnxruntime/: remove both, then install the GPU one cleanly.
  "$PY" -m pip uninstall -y -q onnxruntime onnxruntime-gpu || true
  "$PY" -m pip install -q -c <(grep -vE '^onnxruntime==' "$HERE/requirements.txt") -r "$HERE/requirements-gpu.txt"
fi
"$PY" - <<'PY'
import onnxruntime
providers = onnxruntime.get_available_providers()
print(f"onnxruntime {onnxruntime.__version__}: {', '.join(providers)}")
if "CUDAExecutionProvider" not in providers:
    raise SystemExit("CUDAExecutionProvider missing after installing onnxruntime-gpu: see README, 'Running on GPUs'")
PY
