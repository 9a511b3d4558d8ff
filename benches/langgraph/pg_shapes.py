"""LangGraph (Python) side of the Postgres persistence shapes of benches/SHAPES.md.

Shapes:
  pg_loop_200          one node increments a counter and loops to itself until 200; durability="sync";
                       ms for the whole run (one fresh thread per run)
  pg_concurrent_8x200  eight pg_loop_200 threads at once in one process (asyncio.gather);
                       ms until all eight finish
  storage_growth_1000  a chat thread of 1000 turns, one invoke per turn appending one 400-character
                       random message, durability="exit" (one checkpoint per turn); both numeric
                       columns hold stored bytes / raw message bytes

Checkpointer: langgraph-checkpoint-postgres's AsyncPostgresSaver over one psycopg AsyncConnectionPool
(connections opened with autocommit=True, prepare_threshold=0, row_factory=dict_row, as
AsyncPostgresSaver.from_conn_string opens its connection), after saver.setup(). One saver instance
is shared by all threads, as in a server. Graphs are compiled once, outside the timing.

Output (stdout), one line per shape:  name<TAB>median_ms<TAB>min_ms  (plus '#' comment lines with the
verified counts, checkpoints written, durable commits and the storage-growth trend).
Progress goes to stderr.

Usage: python pg_shapes.py [--runs N] [--only name1,name2] [--database-url URL]
The database in URL is created if missing; the checkpoint tables are dropped and re-created by
setup() at start, and truncated before each shape.
"""

import argparse
import asyncio
import operator
import random
import statistics
import string
import sys
import time
from typing import Annotated
from uuid import uuid4

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from typing_extensions import TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.constants import END, START
from langgraph.graph import StateGraph

try:
    import uvloop

    LOOP_FACTORY = uvloop.new_event_loop
    LOOP_NAME = f"uvloop {uvloop.__version__}"
except ImportError:  # pragma: no cover
    LOOP_FACTORY = asyncio.new_event_loop
    LOOP_NAME = "asyncio"

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lgbench"
RECURSION_LIMIT = 1_000_000_000
LOOP_TARGET = 200
THREADS = 8
TURNS = 1000
MESSAGE_CHARS = 400
POOL_SIZE = 16
TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints", "checkpoint_migrations")
SHAPE_NAMES = ("pg_loop_200", "pg_concurrent_8x200", "storage_growth_1000")


class CountError(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CountError(msg)


def out(line: str) -> None:
    print(line, flush=True)


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# graphs
# --------------------------------------------------------------------------------------------


class Counter(TypedDict):
    counter: int  # plain last value


def loop_graph(saver: AsyncPostgresSaver):
    def inc(state: Counter) -> dict:
        return {"counter": state["counter"] + 1}

    def route(state: Counter) -> str:
        return "inc" if state["counter"] < LOOP_TARGET else END

    builder = StateGraph(Counter)
    builder.add_node("inc", inc)
    builder.add_edge(START, "inc")
    builder.add_conditional_edges("inc", route, ["inc", END])
    return builder.compile(checkpointer=saver)


class Chat(TypedDict):
    messages: Annotated[list[str], operator.add]  # append-merged


def chat_graph(saver: AsyncPostgresSaver):
    def reply(state: Chat) -> None:  # the turn's message arrives in the input; nothing else is written
        return None

    builder = StateGraph(Chat)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=saver)


def config(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT}


# --------------------------------------------------------------------------------------------
# database helpers
# --------------------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    params = conninfo_to_dict(url)
    dbname = params.get("dbname", "postgres")
    admin = make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            log(f"# created database {dbname}")


async def reset_tables(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        for t in TABLES:
            await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(t)))


async def truncate(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        await conn.execute("TRUNCATE checkpoints, checkpoint_blobs, checkpoint_writes")


async def write_xacts(pool: AsyncConnectionPool, thread_ids: list[str]) -> int:
    """Distinct transaction ids (xmin) on the rows the thread(s) left in the three tables: the
    number of write transactions, each one durable commit under synchronous_commit=on. Exact unless
    a later transaction rewrote every row of an earlier one (an upsert DO UPDATE), which these
    shapes do not do."""
    q = """
    SELECT count(DISTINCT x) AS n FROM (
      SELECT xmin::text AS x FROM checkpoints WHERE thread_id = ANY(%(t)s)
      UNION ALL SELECT xmin::text FROM checkpoint_blobs WHERE thread_id = ANY(%(t)s)
      UNION ALL SELECT xmin::text FROM checkpoint_writes WHERE thread_id = ANY(%(t)s)) s
    """
    async with pool.connection() as conn:
        row = await (await conn.execute(q, {"t": thread_ids})).fetchone()
        return int(row["n"])


# The server and the 2-core machine may be shared with other benchmarks (the Rust side runs the same
# shapes on the same server). Each timed run waits for a quiet machine first and is repeated if
# another client used the server meanwhile.
APP_NAME = "lg_pg_shapes"
QUIET_CPU = 0.15  # busy fraction of all cores over a 0.3 s sample
QUIET_WAIT_S = 120.0
MAX_ATTEMPTS = 4


def _cpu_sample() -> tuple[int, int]:
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


async def wait_quiet() -> float:
    """Wait until the machine is idle; returns the seconds waited."""
    t0 = time.perf_counter()
    while True:
        b0, t_0 = _cpu_sample()
        await asyncio.sleep(0.3)
        b1, t_1 = _cpu_sample()
        busy = (b1 - b0) / max(1, t_1 - t_0)
        if busy < QUIET_CPU:
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > QUIET_WAIT_S:
            Contention.busy_starts += 1
            log(f"# machine still busy ({busy:.0%}) after {QUIET_WAIT_S:.0f} s; running anyway")
            return time.perf_counter() - t0


async def server_now(pool: AsyncConnectionPool):
    async with pool.connection() as conn:
        return (await (await conn.execute("SELECT clock_timestamp() AS t")).fetchone())["t"]


async def others_active_since(pool: AsyncConnectionPool, since) -> int:
    q = """
    SELECT count(*) AS n FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND application_name <> %(app)s
      AND (state = 'active' OR query_start >= %(since)s OR xact_start >= %(since)s)
    """
    async with pool.connection() as conn:
        return int((await (await conn.execute(q, {"app": APP_NAME, "since": since})).fetchone())["n"])


class Contention:
    discarded = 0
    waited_s = 0.0
    busy_starts = 0


async def timed_run(pool: AsyncConnectionPool, fn) -> float:
    """ms of `await fn()`, on a quiet machine with no other client of the server during the run."""
    for attempt in range(MAX_ATTEMPTS):
        Contention.waited_s += await wait_quiet()
        since = await server_now(pool)
        t0 = time.perf_counter()
        await fn()
        ms = (time.perf_counter() - t0) * 1000.0
        if await others_active_since(pool, since) == 0 or attempt == MAX_ATTEMPTS - 1:
            return ms
        Contention.discarded += 1
        log(f"# another client used the server during a run ({ms:.1f} ms); repeating it")
    raise AssertionError("unreachable")


async def thread_rows(pool: AsyncConnectionPool, thread_id: str) -> dict:
    q = """
    SELECT
      (SELECT count(*) FROM checkpoints WHERE thread_id = %(t)s) AS checkpoints,
      (SELECT count(*) FROM checkpoint_blobs WHERE thread_id = %(t)s) AS blob_rows,
      (SELECT count(*) FROM checkpoint_writes WHERE thread_id = %(t)s) AS write_rows,
      (SELECT coalesce(sum(length(blob)), 0) FROM checkpoint_blobs WHERE thread_id = %(t)s) AS blob_bytes,
      (SELECT coalesce(sum(length(blob)), 0) FROM checkpoint_writes WHERE thread_id = %(t)s) AS write_bytes,
      (SELECT coalesce(sum(octet_length(checkpoint::text)), 0) FROM checkpoints WHERE thread_id = %(t)s)
        AS checkpoint_json_bytes,
      (SELECT coalesce(sum(octet_length(metadata::text)), 0) FROM checkpoints WHERE thread_id = %(t)s)
        AS metadata_json_bytes
    """
    async with pool.connection() as conn:
        row = await (await conn.execute(q, {"t": thread_id})).fetchone()
        return {k: int(v) for k, v in row.items()}


# --------------------------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------------------------


async def run_loop(graph, thread_id: str) -> None:
    final = await graph.ainvoke({"counter": 0}, config(thread_id), durability="sync")
    check(final["counter"] == LOOP_TARGET, f"final counter {final['counter']} != {LOOP_TARGET}")


async def run_concurrent(graph, thread_ids: list[str]) -> None:
    finals = await asyncio.gather(
        *(graph.ainvoke({"counter": 0}, config(t), durability="sync") for t in thread_ids)
    )
    for f in finals:
        check(f["counter"] == LOOP_TARGET, f"final counter {f['counter']} != {LOOP_TARGET}")


def summarize(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), min(times)


async def shape_pg_loop_200(pool, saver, runs: int) -> None:
    graph = loop_graph(saver)
    await run_loop(graph, str(uuid4()))  # warm-up (also checks the count)
    times, checkpoints, commits, rows = [], set(), set(), None
    for _ in range(runs):
        tid = str(uuid4())
        times.append(await timed_run(pool, lambda: run_loop(graph, tid)))
        commits.add(await write_xacts(pool, [tid]))
        rows = await thread_rows(pool, tid)
        checkpoints.add(rows["checkpoints"])
    med, mn = summarize(times)
    # Reference (not a shape): the same graph and durability with InMemorySaver, i.e. the framework's
    # own per-superstep cost with no database.
    mem = loop_graph(InMemorySaver())
    await run_loop(mem, str(uuid4()))
    mem_times = []
    for _ in range(runs):
        tid = str(uuid4())
        mem_times.append(await timed_run(pool, lambda: run_loop(mem, tid)))
    mem_med, mem_mn = summarize(mem_times)
    out(f"pg_loop_200\t{med:.3f}\t{mn:.3f}")
    out(
        f"# pg_loop_200: final counter {LOOP_TARGET} in every run; checkpoints per run "
        f"{sorted(checkpoints)}; rows per run: {rows['blob_rows']} checkpoint_blobs, "
        f"{rows['write_rows']} checkpoint_writes; write transactions (durable commits) per run "
        f"{sorted(commits)}; ms per superstep {med / LOOP_TARGET:.3f} (median run / {LOOP_TARGET})"
    )
    out(
        f"# pg_loop_200 reference, same graph with InMemorySaver (no database): median {mem_med:.3f} ms, "
        f"min {mem_mn:.3f} ms"
    )


async def shape_pg_concurrent(pool, saver, runs: int, name: str = "pg_concurrent_8x200") -> None:
    graph = loop_graph(saver)
    await run_concurrent(graph, [str(uuid4()) for _ in range(THREADS)])  # warm-up
    times, checkpoints, commits = [], set(), set()
    for _ in range(runs):
        tids = [str(uuid4()) for _ in range(THREADS)]
        times.append(await timed_run(pool, lambda: run_concurrent(graph, tids)))
        commits.add(await write_xacts(pool, tids))
        for t in tids:
            checkpoints.add((await thread_rows(pool, t))["checkpoints"])
    med, mn = summarize(times)
    return med, mn, checkpoints, commits


async def shape_storage_growth(pool, saver, turns: int, probes: tuple[int, ...]) -> None:
    graph = chat_graph(saver)
    rng = random.Random(0)
    tid = str(uuid4())
    raw = 0
    trend = []
    t0 = time.perf_counter()
    for turn in range(1, turns + 1):
        msg = "".join(rng.choices(string.ascii_lowercase, k=MESSAGE_CHARS))
        raw += len(msg.encode())
        await graph.ainvoke({"messages": [msg]}, config(tid), durability="exit")
        if turn in probes or turn == turns:
            rows = await thread_rows(pool, tid)
            stored = rows["blob_bytes"] + rows["write_bytes"] + rows["checkpoint_json_bytes"]
            trend.append((turn, stored / raw, rows, stored))
    elapsed = time.perf_counter() - t0
    state = await graph.aget_state(config(tid))
    check(len(state.values["messages"]) == turns, f"{len(state.values['messages'])} messages != {turns}")
    turn, ratio, rows, stored = trend[-1]
    check(rows["checkpoints"] == turns, f"{rows['checkpoints']} checkpoints != {turns} turns")
    out(f"storage_growth_{turns}\t{ratio:.3f}\t{ratio:.3f}")
    out(
        f"# storage_growth_{turns}: {turns} messages read back, {rows['checkpoints']} checkpoints "
        f"(one per turn); stored {stored} bytes = checkpoint_blobs {rows['blob_bytes']} "
        f"({rows['blob_rows']} rows) + checkpoint_writes {rows['write_bytes']} ({rows['write_rows']} rows) "
        f"+ checkpoints.checkpoint json {rows['checkpoint_json_bytes']}; raw {raw} bytes; "
        f"(metadata json, not counted: {rows['metadata_json_bytes']} bytes); {elapsed:.1f} s for all turns"
    )
    for t, r, _rows, st in trend[:-1]:
        out(f"# storage_growth_{t}: ratio {r:.3f} (stored {st} / raw {t * MESSAGE_CHARS})")
    if len(trend) >= 2:
        t_a, r_a = trend[-2][0], trend[-2][1]
        out(
            f"# storage_growth trend: ratio x{ratio / r_a:.2f} from {t_a} to {turns} turns "
            f"(x{turns / t_a:.0f}); linear storage keeps the ratio flat, a full rewrite of the list "
            f"per turn grows it as ~turns/2"
        )


async def main_async(args) -> int:
    ensure_database(args.database_url)
    pool = AsyncConnectionPool(
        args.database_url,
        min_size=POOL_SIZE,
        max_size=POOL_SIZE,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "application_name": APP_NAME,
        },
        open=False,
    )
    await pool.open(wait=True)
    try:
        await reset_tables(pool)
        saver = AsyncPostgresSaver(pool)
        await saver.setup()
        out(f"# checkpointer: AsyncPostgresSaver(AsyncConnectionPool(size={POOL_SIZE})), setup() run")
        for name in args.selected:
            await truncate(pool)
            log(f"# running {name}")
            if name == "pg_loop_200":
                await shape_pg_loop_200(pool, saver, args.runs)
            elif name == "pg_concurrent_8x200":
                med, mn, cps, commits = await shape_pg_concurrent(pool, saver, args.runs)
                out(f"pg_concurrent_8x200\t{med:.3f}\t{mn:.3f}")
                out(
                    f"# pg_concurrent_8x200: {THREADS} threads x final counter {LOOP_TARGET} in every "
                    f"run; checkpoints per thread {sorted(cps)}; write transactions per run "
                    f"{sorted(commits)}; saver.lock is the shipped asyncio.Lock (all DB calls of the "
                    f"one saver serialized)"
                )
                if not args.no_workaround:
                    # The workaround of langgraph issue #7259: let the shared saver use up to
                    # POOL_SIZE pooled connections at once instead of one.
                    await truncate(pool)
                    saver2 = AsyncPostgresSaver(pool)
                    saver2.lock = asyncio.Semaphore(POOL_SIZE)
                    med2, mn2, cps2, commits2 = await shape_pg_concurrent(pool, saver2, args.runs)
                    out(
                        f"# pg_concurrent_8x200 with saver.lock = asyncio.Semaphore({POOL_SIZE}) "
                        f"(workaround, not the shipped saver): median {med2:.3f} ms, min {mn2:.3f} ms; "
                        f"checkpoints per thread {sorted(cps2)}; write transactions per run "
                        f"{sorted(commits2)}"
                    )
            elif name == "storage_growth_1000":
                await shape_storage_growth(pool, saver, TURNS, probes=(10, 100))
    except CountError as e:
        print(f"COUNT MISMATCH: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        await pool.close()
    out(
        f"# timed runs repeated because another client used the server: {Contention.discarded}; "
        f"seconds waited for a quiet machine: {Contention.waited_s:.1f}; runs started on a still-busy "
        f"machine after {QUIET_WAIT_S:.0f} s of waiting: {Contention.busy_starts}"
    )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per shape (default 5)")
    ap.add_argument("--only", default="", help="comma-separated shape names")
    ap.add_argument("--database-url", default=DEFAULT_URL, help=f"default {DEFAULT_URL}")
    ap.add_argument(
        "--no-workaround",
        action="store_true",
        help="skip the extra pg_concurrent_8x200 run with the issue-#7259 lock workaround",
    )
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in SHAPE_NAMES]
        if unknown:
            ap.error(f"unknown shape(s): {', '.join(unknown)}; known: {', '.join(SHAPE_NAMES)}")
        args.selected = [s for s in SHAPE_NAMES if s in wanted]
    else:
        args.selected = list(SHAPE_NAMES)
    log(f"# event loop: {LOOP_NAME}")
    with asyncio.Runner(loop_factory=LOOP_FACTORY) as runner:
        return runner.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
