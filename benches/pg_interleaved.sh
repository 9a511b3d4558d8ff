#!/usr/bin/env bash
# PostgreSQL shapes against their physical floor, interleaved so that both see the same disk:
# each round runs pgbench (one 300-byte INSERT per transaction; 1 client, 2 s) then pg_loop_200
# (3 runs), and pgbench with 8 clients then pg_concurrent_8x200 (3 runs), and prints the ratios.
#   ROUNDS=8 benches/pg_interleaved.sh    (after cargo build --release -p agentflow-benches)
set -u
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
PSQL=/usr/lib/postgresql/15/bin/psql; command -v psql >/dev/null && PSQL=psql
PGBENCH=$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)
C="-h 127.0.0.1 -p 5432 -U postgres"
$PSQL $C -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname='lg_pgbench'" | grep -q 1 || $PSQL $C -d postgres -qc "CREATE DATABASE lg_pgbench"
echo "INSERT INTO pgbench_t300 VALUES (repeat('x', 300));" > /tmp/ins300.sql
for r in $(seq 1 ${ROUNDS:-8}); do
  $PSQL $C -d lg_pgbench -qc "DROP TABLE IF EXISTS pgbench_t300; CREATE TABLE pgbench_t300 (v text)" 2>/dev/null
  t1=$($PGBENCH $C -n -f /tmp/ins300.sql -c 1 -j 1 -T 2 lg_pgbench 2>&1 | grep -oP 'tps = \K[0-9.]+' | head -1)
  l=$("$target/release/shapes" --runs 3 --only pg_loop_200 --database-url postgres://postgres@127.0.0.1:5432/postgres 2>&1 | grep -v '^#' | cut -f3)
  $PSQL $C -d lg_pgbench -qc "DROP TABLE IF EXISTS pgbench_t300; CREATE TABLE pgbench_t300 (v text)" 2>/dev/null
  t8=$($PGBENCH $C -n -f /tmp/ins300.sql -c 8 -j 2 -T 2 lg_pgbench 2>&1 | grep -oP 'tps = \K[0-9.]+' | head -1)
  cc=$("$target/release/shapes" --runs 3 --only pg_concurrent_8x200 --database-url postgres://postgres@127.0.0.1:5432/postgres 2>&1 | grep -v '^#' | cut -f3)
  awk -v t1=$t1 -v l=$l -v t8=$t8 -v cc=$cc 'BEGIN { commit=1000/t1; step=l/200; ours=1600/(cc/1000);
    printf "round: commit %.3f ms, pg_loop step %.3f ms (%.2fx) | pgbench8 %.0f tps, ours %.0f steps/s (%.0f%%)\n", commit, step, step/commit, t8, ours, 100*ours/t8 }'
done
$PSQL $C -d lg_pgbench -qc "DROP TABLE IF EXISTS pgbench_t300" 2>/dev/null
