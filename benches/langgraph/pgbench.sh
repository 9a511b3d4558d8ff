#!/usr/bin/env bash
# The physical floor of the Postgres persistence shapes (benches/SHAPES.md, "PostgreSQL shapes"):
# one 300-byte INSERT per transaction, i.e. one durable commit each, measured with pgbench on the
# same server as pg_shapes.py.
#
# Usage: bash benches/langgraph/pgbench.sh [HOST] [PORT] [USER]   (defaults 127.0.0.1 5432 postgres)
#        DURATION=10 overrides the seconds per run.
#
# It creates its own database (lg_pgbench) if missing and its own table (pgbench_t300), and drops the
# table at the end. stdout: the pgbench output of each run, then one summary line per run:
#   # pgbench clients=C threads=J T=S: tps=X latency_avg_ms=Y implied_commit_ms=Z aggregate_ms_per_commit=W
# where implied_commit_ms = 1000 * clients / tps is the wall time of one durable commit as one client
# sees it (for clients=1 it is the mean latency), and aggregate_ms_per_commit = 1000 / tps is the
# server's time per commit across all clients (group commit shows here).
set -euo pipefail

HOST=${1:-127.0.0.1}
PORT=${2:-5432}
PGUSER_=${3:-postgres}
DB=lg_pgbench
DURATION=${DURATION:-10}

PGBENCH=$(command -v pgbench || true)
[ -n "$PGBENCH" ] || PGBENCH=/usr/lib/postgresql/15/bin/pgbench
PSQL=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)
CONN=(-h "$HOST" -p "$PORT" -U "$PGUSER_")
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

if ! "$PSQL" "${CONN[@]}" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  "$PSQL" "${CONN[@]}" -d postgres -qc "CREATE DATABASE $DB"
fi

SCRIPT=$(mktemp /tmp/pgbench_insert300.XXXXXX.sql)
trap 'rm -f "$SCRIPT"; "$PSQL" "${CONN[@]}" -d "$DB" -qc "DROP TABLE IF EXISTS pgbench_t300" >/dev/null 2>&1 || true' EXIT
echo "INSERT INTO pgbench_t300 VALUES (repeat('x', 300));" >"$SCRIPT"

echo "# server: $("$PSQL" "${CONN[@]}" -d "$DB" -Atc "SELECT version()")"
echo "# settings: $("$PSQL" "${CONN[@]}" -d "$DB" -Atc "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN ('synchronous_commit','fsync','wal_sync_method','commit_delay','full_page_writes','wal_level')")"
echo "# script ($SCRIPT): $(cat "$SCRIPT")"

# The server and the 2-core machine may be shared with other benchmarks and tests. Before each run,
# wait (up to 120 s) until the machine is idle (< 15% CPU busy over 0.5 s); after it, repeat the run
# (up to 3 more times) if another client used the server meanwhile.
busy_pct() {
  local a b
  a=($(head -1 /proc/stat)); sleep 0.5; b=($(head -1 /proc/stat))
  local tot=0 idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) i
  for i in 1 2 3 4 5 6 7 8; do tot=$(( tot + b[i] - a[i] )); done
  echo $(( tot > 0 ? 100 * (tot - idle) / tot : 0 ))
}
wait_quiet() {
  local start=$SECONDS
  while [ "$(busy_pct)" -ge 15 ]; do
    if [ $(( SECONDS - start )) -ge 120 ]; then
      echo "# (machine still busy after 120 s; running anyway)"
      return
    fi
  done
}
others_since() {
  "$PSQL" "${CONN[@]}" -d postgres -Atc "SELECT count(*) FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND application_name NOT IN ('pgbench', 'psql')
      AND (state = 'active' OR query_start >= '$1' OR xact_start >= '$1')"
}

summary=()
for cj in "1 1" "8 2"; do
  set -- $cj
  c=$1 j=$2
  for attempt in 1 2 3 4; do
    "$PSQL" "${CONN[@]}" -d "$DB" -qc "DROP TABLE IF EXISTS pgbench_t300; CREATE TABLE pgbench_t300 (v text)"
    cmd=("$PGBENCH" "${CONN[@]}" -n -f "$SCRIPT" -c "$c" -j "$j" -T "$DURATION" "$DB")
    wait_quiet
    since=$("$PSQL" "${CONN[@]}" -d postgres -Atc "SELECT clock_timestamp()")
    out=$("${cmd[@]}" 2>&1)
    others=$(others_since "$since")
    [ "$others" -eq 0 ] && break
    if [ "$attempt" -lt 4 ]; then
      echo "# (run with -c $c repeated: $others other client(s) used the server during it)"
    else
      echo "# (run with -c $c kept although $others other client(s) used the server during it)"
    fi
  done
  echo "# command: ${cmd[*]}"
  echo "$out" | sed 's/^/#   /'
  tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' | head -1)
  commit=$(awk -v c="$c" -v t="$tps" 'BEGIN { printf "%.3f", 1000 * c / t }')
  agg=$(awk -v t="$tps" 'BEGIN { printf "%.4f", 1000 / t }')
  summary+=("# pgbench clients=$c threads=$j T=$DURATION: tps=$tps latency_avg_ms=$lat implied_commit_ms=$commit aggregate_ms_per_commit=$agg")
done
printf '%s\n' "${summary[@]}"
