#!/usr/bin/env bash
# The main job on the embedded default device (`local`, this machine): set up .venv, then profile the shipped
# digits model in four variants (ONNX fp32, fp16, int8 static; TFLite int8 static) with on-device accuracy,
# judge them against the `local` profile's constraints, store the results and print the verdict tables.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
digits=models/digits
exec .venv/bin/edgeprof deploy --device local --dataset "$digits/test.npz" \
  --model "$digits/digits-fp32.onnx" \
  --model "$digits/digits-fp16.onnx" \
  --model "$digits/digits-int8-static.onnx" \
  --model "$digits/digits-int8-static.tflite" \
  "$@"
