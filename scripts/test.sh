#!/usr/bin/env bash
# Set up everything the tests need and run the whole suite:
#   stage 1 (default): unit, agent, real-SSH (loopback OpenSSH server), PostgreSQL store (loopback server),
#   labgrid places (loopback coordinator and exporter) and CLI tests;
#   stage "generative": GGUF models through a real llama.cpp (scripts/generative_stage.sh: the llama-cpp-python
#   wheel is built once and cached, the SmolLM2-135M GGUF comes from a PyPI package);
#   stage "converters": `edgeprof convert` through torch, litert-torch, tensorflow-cpu and tf2onnx in their own
#   virtualenv (scripts/converters_stage.sh);
#   stage 2 (emulated): boot the QEMU arm64 board and deploy to it over SSH.
# Extra arguments go to the stage-1 pytest. EDGEPROF_SKIP_EMULATED=1 skips stage 2 and EDGEPROF_SKIP_SLOW=1 the
# generative and converters stages (CI sets neither).
set -uo pipefail
cd "$(dirname "$0")/.."

EDGEPROF_WITH_SSHD=1 EDGEPROF_WITH_POSTGRES=1 EDGEPROF_WITH_OPENVINO=1 EDGEPROF_WITH_BROWSER=1 bash scripts/setup.sh || exit 1

run_dir="$PWD/.test-run"
mkdir -p "$run_dir"
bash scripts/sshd_loopback.sh start "$run_dir/sshd" || { echo "test: could not start the loopback sshd" >&2; exit 1; }
trap 'bash scripts/sshd_loopback.sh stop "$run_dir/sshd"' EXIT
export EDGEPROF_TEST_SSHD_DIR="$run_dir/sshd"
start=$SECONDS
bash scripts/pg_loopback.sh start "$run_dir/pg" || { echo "test: could not start the loopback PostgreSQL" >&2; exit 1; }
echo "== PostgreSQL started in $((SECONDS - start)) s"
trap 'bash scripts/pg_loopback.sh stop "$run_dir/pg"; bash scripts/sshd_loopback.sh stop "$run_dir/sshd"' EXIT
eval "$(bash scripts/pg_loopback.sh env "$run_dir/pg")"  # EDGEPROF_TEST_PG_URL
start=$SECONDS
bash scripts/labgrid_loopback.sh start "$run_dir/labgrid" "$run_dir/sshd" \
  || { echo "test: could not start the loopback labgrid coordinator and exporter" >&2; exit 1; }
echo "== labgrid coordinator and exporter started in $((SECONDS - start)) s"
trap 'bash scripts/labgrid_loopback.sh stop "$run_dir/labgrid"; bash scripts/pg_loopback.sh stop "$run_dir/pg"
      bash scripts/sshd_loopback.sh stop "$run_dir/sshd"' EXIT
eval "$(bash scripts/labgrid_loopback.sh env "$run_dir/labgrid")"  # LG_COORDINATOR

echo "== stage 1: default suite"
start=$SECONDS
.venv/bin/python -m pytest -p no:cacheprovider --junitxml="$run_dir/stage1.xml" "$@"
stage1=$?
echo "== stage 1 took $((SECONDS - start)) s"

named_stage() {  # NAME WHAT: run scripts/NAME_stage.sh with its JUnit file, timed; its exit status
  echo "== stage $1: $2"
  local began=$SECONDS status
  EDGEPROF_JUNIT="$run_dir/stage-$1.xml" bash "scripts/$1_stage.sh"
  status=$?
  echo "== stage $1 took $((SECONDS - began)) s"
  return $status
}
generative=0
converters=0
rm -f "$run_dir"/stage-*.xml
if [ "${EDGEPROF_SKIP_SLOW:-0}" != 1 ]; then
  named_stage generative "GGUF models through llama.cpp"; generative=$?
  named_stage converters "edgeprof convert from PyTorch and Keras"; converters=$?
fi

stage2=0
rm -f "$run_dir/stage2.xml"
if [ "${EDGEPROF_SKIP_EMULATED:-0}" != 1 ]; then
  echo "== stage 2: emulated device (QEMU arm64)"
  start=$SECONDS
  EDGEPROF_JUNIT="$run_dir/stage2.xml" bash scripts/emulated_stage.sh
  stage2=$?
  echo "== stage 2 took $((SECONDS - start)) s"
fi

echo "== stage 1: exit $stage1, generative: exit $generative, converters: exit $converters, stage 2: exit $stage2"
.venv/bin/python - "$run_dir"/stage*.xml <<'PY'
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        continue
    for suite in root.iter("testsuite"):
        tests, fail = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skip = int(suite.get("skipped", 0))
        passed += tests - fail - skip
        failed += fail
        skipped += skip
print(f"edgeprof: {passed} passed, {failed} failed, {skipped} skipped")
PY
[ "$stage1" = 0 ] && [ "$generative" = 0 ] && [ "$converters" = 0 ] && [ "$stage2" = 0 ]
