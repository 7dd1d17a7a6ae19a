#!/usr/bin/env bash
# Run the whole test suite: what README's second command and CI (.ci/run) run.
# As root it installs the two system pieces some tests need: Debian's chromium (the report is
# opened in a headless browser) and a throwaway PostgreSQL on 127.0.0.1 (several workers on one
# study). Without them those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ] && ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: installing chromium (apt-get) ..." >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 || \
    echo "test.sh: chromium could not be installed; the browser test will skip" >&2
fi
if url_line=$(scripts/postgres.sh); then
  eval "$url_line"
else
  echo "test.sh: no PostgreSQL; the multi-worker tests will skip" >&2
fi
python -m pytest -n 2 -q "$@"
