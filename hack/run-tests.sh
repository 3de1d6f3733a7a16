#!/usr/bin/env bash
# Runs the whole test suite (unit + real clusters). Exit 5 from pytest ("no tests collected") is a failure
# here: a suite that silently collects nothing must not pass.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [[ $rc == 5 ]]; then
  echo "run-tests: pytest collected no tests -- treating as a failure" >&2
  exit 1
fi
exit $rc
