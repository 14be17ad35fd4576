#!/usr/bin/env bash
# The README's first command: set up .venv, then `edgeprof demo` (its one home: edgeprof/demo.py): the sample that
# ships inside the package (the digits model in four variants: ONNX fp32, fp16, int8 static; TFLite int8 static,
# with its labelled test set) profiled on the embedded default device (`local`, this machine), judged against the
# `local` profile's constraints and stored; it prints the verdict tables, the variant to ship and what to run next,
# and writes .edgeprof/report.html. Arguments go to `edgeprof demo` (--out DIR, --store). Exits with its code
# (0: all constraints met).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
exec .venv/bin/edgeprof demo "$@"
