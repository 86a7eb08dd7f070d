#!/usr/bin/env bash
# The test command (README): installs the locked dependencies with uv, then runs pytest.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m unit` or `scripts/test.sh tests/config`.
# Backends a tier needs (PostgreSQL via TEST_POSTGRES_URL, Prometheus/promtool from apt) skip
# their tests with the reason when missing, and fail them when CI=true.
#
# Without arguments it runs every tier but `live` as two pytest processes side by side: the
# `alerting` tier (about 20 minutes, most of it waiting for Prometheus' `for:` durations, each
# backend on a port of its own) and everything else. Its output is printed when both are done;
# the run fails if either fails or selects no test. TEST_SERIAL=1 runs one pytest process instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
  echo "uv not found: installing it for this user with pip" >&2
  python3 -m pip install --quiet --user uv
  export PATH="$HOME/.local/bin:$PATH"
fi

uv sync --locked --quiet

# pytest's exit status, with 5 ("no tests were collected") turned into a failure: a selection
# that matches nothing is a broken run, not a pass.
checked() {
  local status=$1 what=$2
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests for $what: check the selection or the markers" >&2
    return 1
  fi
  return "$status"
}

if [ "$#" -gt 0 ] || [ "${TEST_SERIAL:-}" = "1" ]; then
  set +e
  uv run --locked pytest "$@"
  status=$?
  set -e
  checked "$status" "${*:-the default selection}"
  exit $?
fi

log=$(mktemp "${TMPDIR:-/tmp}/alerting-tier.XXXXXX.log")
alerting_tmp=$(mktemp -d "${TMPDIR:-/tmp}/alerting-tier.XXXXXX")
# Each run in a process group of its own (job control), so an interrupt stops all of it.
set -m
# The trap comes before the runs start, so an interrupt at any moment stops what has started.
alerting_pid=""
rest_pid=""
stop() {
  for pid in $alerting_pid $rest_pid; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  echo "interrupted: both pytest runs stopped; the alerting tier's output: $log" >&2
  exit 130
}
trap stop INT TERM
# Its own cache-less run and temporary folder, so the two processes share no file, and its own
# block of ports below the kernel's ephemeral range (32768 up on Linux), so the two share no
# port either (tests/support/tools.py: free_port).
TEST_PORT_RANGE=20000-26383 uv run --locked pytest -m alerting -p no:cacheprovider \
  --basetemp "$alerting_tmp/pytest" >"$log" 2>&1 &
alerting_pid=$!
# At a lower priority: the lessons' services must answer in time, or a latency alert that no
# lesson declares would fire and fail the alerting tier.
TEST_PORT_RANGE=26384-32767 nice -n 10 uv run --locked pytest -m "not live and not alerting" &
rest_pid=$!

set +e
wait "$rest_pid"
rest=$?
echo "waiting for the alerting tier (output follows)..." >&2
wait "$alerting_pid"
alerting=$?
set -e
trap - INT TERM
echo "===== alerting tier (pytest -m alerting) ====="
cat "$log"
rm -f "$log"
if [ "$alerting" -eq 0 ]; then
  rm -rf "$alerting_tmp"
else
  # The lessons' service, Prometheus and Alertmanager logs, for the failure above.
  echo "the alerting tier's files are kept in $alerting_tmp/pytest" >&2
fi

failed=0
checked "$rest" '-m "not live and not alerting"' || failed=1
checked "$alerting" "-m alerting" || failed=1
if [ "$failed" -ne 0 ]; then
  echo "test run failed: everything but alerting exited $rest, alerting exited $alerting" >&2
fi
exit "$failed"
