#!/usr/bin/env bash
# The main job on the embedded default device (`local`, this machine): set up .venv, then profile the shipped
# digits model in four variants (ONNX fp32, fp16, int8 static; TFLite int8 static) with on-device accuracy,
# judge them against the `local` profile's constraints, store the results, print the verdict tables, and
# write the comparison plots and a self-contained HTML report. Exits with deploy's code (0: all constraints met).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
digits=models/digits
.venv/bin/edgeprof deploy --device local --dataset "$digits/test.npz" \
  --model "$digits/digits-fp32.onnx" \
  --model "$digits/digits-fp16.onnx" \
  --model "$digits/digits-int8-static.onnx" \
  --model "$digits/digits-int8-static.tflite" \
  "$@"
code=$?
if [ "$code" -le 1 ]; then
  .venv/bin/edgeprof recommend --device local --model digits
  .venv/bin/edgeprof plot --latest --out .edgeprof/plots >/dev/null && echo "plots: .edgeprof/plots/"
  .venv/bin/edgeprof report --latest --out .edgeprof/report.html >/dev/null && echo "report: .edgeprof/report.html"
fi
exit "$code"
