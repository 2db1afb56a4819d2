#!/usr/bin/env bash
# Run every CareSeal benchmark and the Postfix reference, then print the combined tables.
#
#   bench/run.sh
#
# Needs the virtual environment (`make venv`), root and Debian's postfix
# package for the Postfix reference (skipped when `postconf` is missing),
# and for the PostgreSQL runs a server whose user may CREATE DATABASE:
# CARESEAL_BENCH_PG_URL, else CARESEAL_DATABASE_URL, else
# postgresql://postgres@127.0.0.1:5432/postgres (CARESEAL_BENCH_PG_URL=""
# skips them). strace and perf, when installed, add the system call count
# and the profile. Each step has a time limit and stops every server it
# started, also when it is interrupted.
# Results: bench/results/*.json, profile-*.txt and summary.md.

set -u
cd "$(dirname "$0")/.."

PY=.venv/bin/python
PG_URL=${CARESEAL_BENCH_PG_URL-${CARESEAL_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}}
status=0
started=$(date +%s)

if [ ! -x .venv/bin/careseal ]; then
    make venv || exit 1
fi

step() {
    local limit=$1
    shift
    echo
    echo "== $* (time limit ${limit} s)"
    if ! timeout --signal=TERM --kill-after=30 "$limit" "$PY" -m "$@"; then
        echo "== step failed or reported errors: $*"
        status=1
    fi
}

# Files of an earlier run would mix into the summary; other benchmarks' files stay.
mkdir -p bench/results
rm -f bench/results/accept-*.json bench/results/relay-*.json bench/results/postfix.json \
    bench/results/syscalls-*.json bench/results/profile-*.txt bench/results/summary.md

step 150 bench.accept --mode isolated --database-url ""
step 150 bench.accept --mode draining --database-url ""
step 150 bench.relay --database-url ""

if [ -n "$PG_URL" ] && "$PY" -c "import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" \
        "$PG_URL" 2>/dev/null; then
    step 150 bench.accept --mode isolated --database-url "$PG_URL"
    step 150 bench.relay --database-url "$PG_URL"
else
    echo "== PostgreSQL not reachable at ${PG_URL:-(unset)}: PostgreSQL runs skipped"
fi

if command -v postconf >/dev/null && [ "$(id -u)" = 0 ]; then
    step 150 bench.postfix
else
    echo "== Postfix reference skipped: needs root and Debian's postfix package (apt-get install -y postfix)"
fi

if command -v strace >/dev/null; then
    step 120 bench.syscalls --database-url ""
fi
if command -v perf >/dev/null; then
    step 120 bench.profile
fi

echo
"$PY" -m bench.report
echo "bench/run.sh took $(( $(date +%s) - started )) s"
exit $status
