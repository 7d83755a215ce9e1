#!/usr/bin/env bash
# with-ray-head.sh CMD...: runs CMD with a local Ray head of its own (the tests' head: its own
# ports and temp dir, so it never meets `make run`'s head or Redis on 6379), then stops that head
# whatever CMD did. CMD sees RAY_TEST_ADDRESS (the Jobs API) and RAY_TEST_GCS_ADDRESS.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Ray runs a job's `python` from the PATH the head started with: it must be the venv's, which has Ray.
export PATH="$here/../../.venv/bin:$PATH"
export RAY_HEAD_PORT="${RAY_TEST_HEAD_PORT:-6381}"
export RAY_DASHBOARD_PORT="${RAY_TEST_DASHBOARD_PORT:-8266}"
export RAY_HEAD_TEMP_DIR="${RAY_TEST_TEMP_DIR:-/tmp/rxtest-$RAY_HEAD_PORT}"
# Ray keeps a job it could never schedule PENDING (even once stopped) until this timeout fails it;
# only then can it be deleted. Ray's default is 15 minutes; the tests must not wait that long.
export RAY_JOB_START_TIMEOUT_SECONDS="${RAY_JOB_START_TIMEOUT_SECONDS:-45}"

if ! address="$("$here/rayhead.sh" start)"; then
	echo "with-ray-head: the test Ray head did not start" >&2
	exit 1
fi
trap '"$here/rayhead.sh" stop >/dev/null' EXIT
export RAY_TEST_ADDRESS="$address"
export RAY_TEST_GCS_ADDRESS="127.0.0.1:$RAY_HEAD_PORT"
echo "with-ray-head: Ray head at $RAY_TEST_ADDRESS (GCS $RAY_TEST_GCS_ADDRESS)"
"$@"
