"""LangGraph (Python) side of the agentflow side-by-side benchmark.

Implements the shapes of benches/SHAPES.md the way LangGraph's own bench suite
(langchain-ai/langgraph, libs/langgraph/bench/) builds them, and times them the way that suite's
async variants do:

    len([c async for c in graph.astream(input,
            {"configurable": {"thread_id": str(uuid4())}, "recursion_limit": 1_000_000_000},
            durability="exit")])

on uvloop when it is installed. Graphs are compiled once, outside the timing; the same compiled
graph and the same input object are reused across runs (as in LangGraph's bench).

Output (stdout), one line per shape:  name<TAB>median_ms<TAB>min_ms
Diagnostics (verified counts, loop in use) go to stderr.

Usage: python shapes.py [--runs N] [--only name1,name2]
"""

import argparse
import asyncio
import operator
import random
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from random import choice
from typing import Annotated, Any, Optional
from uuid import uuid4

from typing_extensions import TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.constants import END, START
from langgraph.graph import MessagesState, StateGraph
from langgraph.types import Send

try:  # private in langgraph 1.x; LangGraph's sequential bench uses it
    from langgraph._internal._runnable import RunnableCallable
except ImportError:  # pragma: no cover
    from langgraph.utils.runnable import RunnableCallable  # type: ignore

try:
    import uvloop

    LOOP_FACTORY = uvloop.new_event_loop
    LOOP_NAME = f"uvloop {uvloop.__version__}"
except ImportError:  # pragma: no cover
    LOOP_FACTORY = asyncio.new_event_loop
    LOOP_NAME = "asyncio"

RECURSION_LIMIT = 1_000_000_000

# LangGraph's bench passes durability="exit" to the no-checkpointer variants too; silence the
# resulting per-run UserWarning display (the warnings.warn call itself still happens, as there).
warnings.filterwarnings("ignore", message="`durability` has no effect")


class CountError(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CountError(msg)


# --------------------------------------------------------------------------------------------
# sequential (bench/sequential.py)
# --------------------------------------------------------------------------------------------


def create_sequential(number_nodes: int) -> StateGraph:
    builder = StateGraph(MessagesState)

    def noop(state: MessagesState) -> None:
        pass

    async def anoop(state: MessagesState) -> None:
        pass

    prev_node = "__start__"
    for i in range(number_nodes):
        name = f"node_{i}"
        builder.add_node(name, RunnableCallable(noop, anoop))
        builder.add_edge(prev_node, name)
        prev_node = name
    builder.add_edge(prev_node, "__end__")
    return builder


# --------------------------------------------------------------------------------------------
# wide_state (bench/wide_state.py)
# --------------------------------------------------------------------------------------------


def wide_state(n: int) -> StateGraph:
    @dataclass(kw_only=True)
    class State:
        messages: Annotated[list, operator.add] = field(default_factory=list)
        trigger_events: Annotated[list, operator.add] = field(default_factory=list)
        primary_issue_medium: Annotated[str, lambda x, y: y or x] = field(default="email")
        autoresponse: Annotated[Optional[dict], lambda _, y: y] = field(default=None)
        issue: Annotated[dict | None, lambda x, y: y if y else x] = field(default=None)
        relevant_rules: Optional[list[dict]] = field(default=None)
        memory_docs: Optional[list[dict]] = field(default=None)
        categorizations: Annotated[list[dict], operator.add] = field(default_factory=list)
        responses: Annotated[list[dict], operator.add] = field(default_factory=list)
        user_info: Annotated[Optional[dict], lambda x, y: y if y is not None else x] = field(
            default=None
        )
        crm_info: Annotated[Optional[dict], lambda x, y: y if y is not None else x] = field(
            default=None
        )
        email_thread_id: Annotated[Optional[str], lambda x, y: y if y is not None else x] = (
            field(default=None)
        )
        slack_participants: Annotated[dict, operator.or_] = field(default_factory=dict)
        bot_id: Optional[str] = field(default=None)
        notified_assignees: Annotated[dict, operator.or_] = field(default_factory=dict)

    list_fields = {
        "messages",
        "trigger_events",
        "categorizations",
        "responses",
        "memory_docs",
        "relevant_rules",
    }
    dict_fields = {
        "user_info",
        "crm_info",
        "slack_participants",
        "notified_assignees",
        "autoresponse",
        "issue",
    }

    def read_write(read: str, write: Sequence[str], input: State) -> dict:
        val = getattr(input, read)
        val = {val: val} if isinstance(val, str) else val
        val_single = val[-1] if isinstance(val, list) else val
        val_list = val if isinstance(val, list) else [val]
        return {
            k: val_list
            if k in list_fields
            else val_single
            if k in dict_fields
            else "".join(choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))
            for k in write
        }

    builder = StateGraph(State)
    builder.add_edge(START, "one")
    builder.add_node(
        "one", partial(read_write, "messages", ["trigger_events", "primary_issue_medium"])
    )
    builder.add_edge("one", "two")
    builder.add_node("two", partial(read_write, "trigger_events", ["autoresponse", "issue"]))
    builder.add_edge("two", "three")
    builder.add_edge("two", "four")
    builder.add_node("three", partial(read_write, "autoresponse", ["relevant_rules"]))
    builder.add_node(
        "four",
        partial(read_write, "trigger_events", ["categorizations", "responses", "memory_docs"]),
    )
    builder.add_node(
        "five",
        partial(
            read_write,
            "categorizations",
            [
                "user_info",
                "crm_info",
                "email_thread_id",
                "slack_participants",
                "bot_id",
                "notified_assignees",
            ],
        ),
    )
    builder.add_edge(["three", "four"], "five")
    builder.add_edge("five", "six")
    builder.add_node("six", partial(read_write, "responses", ["messages"]))
    builder.add_conditional_edges("six", lambda state: END if len(state.messages) > n else "one")
    return builder


def wide_state_input(i_count: int, j_count: int) -> dict:
    return {
        "messages": [
            {
                str(i) * 10: {
                    str(j) * 10: ["hi?" * 10, True, 1, 6327816386138, None] * 5
                    for j in range(j_count)
                }
                for i in range(i_count)
            }
        ]
    }


# --------------------------------------------------------------------------------------------
# fanout_to_subgraph (bench/fanout_to_subgraph.py, async variant)
# --------------------------------------------------------------------------------------------


def fanout_to_subgraph() -> StateGraph:
    class OverallState(TypedDict):
        subjects: list[str]
        jokes: Annotated[list[str], operator.add]

    async def continue_to_jokes(state: OverallState):
        return [Send("generate_joke", {"subject": s}) for s in state["subjects"]]

    class JokeInput(TypedDict):
        subject: str

    class JokeOutput(TypedDict):
        jokes: list[str]

    class JokeState(JokeInput, JokeOutput): ...

    async def bump(state: JokeOutput):
        return {"jokes": [state["jokes"][0] + " a"]}

    async def generate(state: JokeInput):
        return {"jokes": [f"Joke about {state['subject']}"]}

    async def edit(state: JokeInput):
        subject = state["subject"]
        return {"subject": f"{subject} - hohoho"}

    async def bump_loop(state: JokeOutput):
        return END if state["jokes"][0].endswith(" a" * 10) else "bump"

    subgraph = StateGraph(JokeState, input_schema=JokeInput, output_schema=JokeOutput)
    subgraph.add_node("edit", edit)
    subgraph.add_node("generate", generate)
    subgraph.add_node("bump", bump)
    subgraph.set_entry_point("edit")
    subgraph.add_edge("edit", "generate")
    subgraph.add_edge("generate", "bump")
    subgraph.add_conditional_edges("bump", bump_loop)
    subgraph.set_finish_point("generate")
    subgraphc = subgraph.compile()

    builder = StateGraph(OverallState)
    builder.add_node("generate_joke", subgraphc)
    builder.add_conditional_edges(START, continue_to_jokes)
    builder.add_edge("generate_joke", END)
    return builder


def fanout_input(n: int) -> dict:
    # Each subject is a *list* of 1000 one-character strings, exactly as LangGraph's bench.
    return {"subjects": [random.choices("abcdefghijklmnopqrstuvwxyz", k=1000) for _ in range(n)]}


# --------------------------------------------------------------------------------------------
# react_agent (bench/react_agent.py)
# --------------------------------------------------------------------------------------------


def react_agent(n_tools: int, checkpointer):
    from langchain_core.callbacks import CallbackManagerForLLMRun
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import StructuredTool

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langgraph.prebuilt import create_react_agent

    class FakeFunctionChatModel(FakeMessagesListChatModel):
        def bind_tools(self, functions: list):
            return self

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: Optional[list[str]] = None,
            run_manager: Optional[CallbackManagerForLLMRun] = None,
            **kwargs: Any,
        ) -> ChatResult:
            # LangGraph's bench calls the pydantic-v1 alias `.copy()`; on pydantic 2 that emits a
            # PydanticDeprecatedSince20 warning on every call (printed to stderr each time, in the
            # timed loop). `.model_copy()` is the same shallow copy without the warning.
            response = self.responses[self.i].model_copy()
            if self.i < len(self.responses) - 1:
                self.i += 1
            else:
                self.i = 0
            generation = ChatGeneration(message=response)
            return ChatResult(generations=[generation])

    tool = StructuredTool.from_function(
        lambda query: f"result for query: {query}" * 10,
        name=str(uuid4()),
        description="",
    )

    model = FakeFunctionChatModel(
        responses=[
            AIMessage(
                content="",
                tool_calls=[
                    {
                        "id": str(uuid4()),
                        "name": tool.name,
                        "args": {"query": str(uuid4()) * 100},
                    }
                ],
                id=str(uuid4()),
            )
            for _ in range(n_tools)
        ]
        + [AIMessage(content="answer" * 100, id=str(uuid4()))]
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(model, [tool], checkpointer=checkpointer)


def react_input() -> dict:
    from langchain_core.messages import HumanMessage

    return {"messages": [HumanMessage("hi?")]}


# --------------------------------------------------------------------------------------------
# concurrent_10k (BENCHMARKS.md; not in LangGraph's suite)
# --------------------------------------------------------------------------------------------


def concurrent_graph() -> StateGraph:
    class CState(TypedDict):
        id: int
        trail: Annotated[list[str], operator.add]

    async def a(state: CState):
        return {"trail": ["a"]}

    async def b(state: CState):
        return {"trail": ["b"]}

    async def c(state: CState):
        return {"trail": ["c"]}

    builder = StateGraph(CState)
    builder.add_node("a", a)
    builder.add_node("b", b)
    builder.add_node("c", c)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder


CONCURRENT_N = 10_000


# --------------------------------------------------------------------------------------------
# running and verifying
# --------------------------------------------------------------------------------------------


def config() -> dict:
    return {"configurable": {"thread_id": str(uuid4())}, "recursion_limit": RECURSION_LIMIT}


async def arun(graph, input) -> int:
    """The timed body, as LangGraph's bench: drain every "updates" chunk."""
    return len([c async for c in graph.astream(input, config(), durability="exit")])


async def arun_collect(graph, input) -> list:
    return [c async for c in graph.astream(input, config(), durability="exit")]


async def ainvoke_final(graph, input):
    out = await graph.ainvoke(input, config(), durability="exit")
    return out if isinstance(out, dict) else vars(out)


async def concurrent_one(graph, i: int) -> list[str]:
    trail: list[str] = []
    async for chunk in graph.astream({"id": i}, config(), durability="exit"):
        for upd in chunk.values():
            trail += upd["trail"]
    return trail


async def concurrent_run(graph) -> int:
    trails = await asyncio.gather(*(concurrent_one(graph, i) for i in range(CONCURRENT_N)))
    for i, t in enumerate(trails):
        if t != ["a", "b", "c"]:
            raise CountError(f"concurrent_10k: invocation {i} trail {t!r} != ['a','b','c']")
    return len(trails)


class Shape:
    def __init__(self, name, build, make_input, verify, timed=None):
        self.name = name
        self.build = build  # () -> compiled graph
        self.make_input = make_input  # () -> input
        self.verify = verify  # async (graph, input) -> str (description of verified counts)
        self.timed = timed or arun  # async (graph, input)


def verify_sequential(n):
    async def v(graph, input):
        chunks = await arun_collect(graph, input)
        check(len(chunks) == n, f"sequential_{n}: {len(chunks)} update chunks, expected {n}")
        return f"{len(chunks)} update chunks"

    return v


def verify_wide(chunks_expected, messages_expected):
    async def v(graph, input):
        chunks = await arun_collect(graph, input)
        check(
            len(chunks) == chunks_expected,
            f"{len(chunks)} update chunks, expected {chunks_expected}",
        )
        final = await ainvoke_final(graph, input)
        nm = len(final["messages"])
        check(nm == messages_expected, f"{nm} final messages, expected {messages_expected}")
        return (
            f"{len(chunks)} update chunks, {nm} final messages "
            f"(trigger_events {len(final['trigger_events'])}, "
            f"categorizations {len(final['categorizations'])}, "
            f"responses {len(final['responses'])})"
        )

    return v


def verify_fanout(n):
    suffix = " a" * 10

    def check_jokes(jokes, where):
        check(len(jokes) == n, f"{where}: {len(jokes)} jokes, expected {n}")
        for j in jokes:
            check(j.endswith(suffix), f"{where}: joke does not end with ' a'*10: ...{j[-40:]!r}")
            check(
                not j.endswith(" a" * 11), f"{where}: joke has more than 10 ' a': ...{j[-40:]!r}"
            )
            check(j.startswith("Joke about ["), f"{where}: unexpected joke start {j[:40]!r}")

    async def v(graph, input):
        chunks = await arun_collect(graph, input)
        check(len(chunks) == n, f"{len(chunks)} update chunks, expected {n}")
        streamed = [j for c in chunks for j in c["generate_joke"]["jokes"]]
        check_jokes(streamed, "stream")
        final = await ainvoke_final(graph, input)
        check_jokes(final["jokes"], "final state")
        return (
            f"{len(chunks)} update chunks, {len(final['jokes'])} jokes ending in ' a'*10 "
            f"(joke length {len(final['jokes'][0])})"
        )

    return v


def verify_react(k):
    async def v(graph, input):
        chunks = await arun_collect(graph, input)
        check(len(chunks) == 2 * k + 1, f"{len(chunks)} update chunks, expected {2 * k + 1}")
        final = await ainvoke_final(graph, input)
        msgs = final["messages"]
        check(len(msgs) == 2 * k + 2, f"{len(msgs)} final messages, expected {2 * k + 2}")
        check(msgs[-1].content == "answer" * 100, "last message is not the final answer")
        tool_msgs = [m for m in msgs if m.type == "tool"]
        check(len(tool_msgs) == k, f"{len(tool_msgs)} tool messages, expected {k}")
        check(len(tool_msgs[0].content) == 10 * (len("result for query: ") + 3600),
              f"tool result length {len(tool_msgs[0].content)}")
        return (
            f"{len(chunks)} update chunks, {len(msgs)} final messages "
            f"({len(tool_msgs)} tool results of {len(tool_msgs[0].content)} chars)"
        )

    return v


async def verify_concurrent(graph, input):
    n = await concurrent_run(graph)  # checks every streamed trail
    # And the final state of every invocation, via ainvoke.
    finals = await asyncio.gather(
        *(graph.ainvoke({"id": i}, config(), durability="exit") for i in range(CONCURRENT_N))
    )
    for i, f in enumerate(finals):
        check(f["id"] == i and f["trail"] == ["a", "b", "c"], f"invocation {i} final {f!r}")
    return f"{n} invocations, every streamed and final trail == ['a','b','c']"


def shapes() -> list[Shape]:
    out: list[Shape] = []
    for n in (10, 1000):
        out.append(
            Shape(
                f"sequential_{n}",
                lambda n=n: create_sequential(n).compile(),
                lambda: {"messages": []},
                verify_sequential(n),
            )
        )
    for (i, j, n), (ch, msgs) in (
        ((5, 5, 300), (36, 595)),
        ((3, 5, 600), (42, 1873)),
        ((3, 3, 1200), (42, 1873)),
    ):
        for cp in (False, True):
            out.append(
                Shape(
                    f"wide_state_{i * j}x{n}" + ("_checkpoint" if cp else ""),
                    lambda n=n, cp=cp: wide_state(n).compile(
                        checkpointer=InMemorySaver() if cp else None
                    ),
                    lambda i=i, j=j: wide_state_input(i, j),
                    verify_wide(ch, msgs),
                )
            )
    for n in (10, 100):
        for cp in (False, True):
            out.append(
                Shape(
                    f"fanout_to_subgraph_{n}x" + ("_checkpoint" if cp else ""),
                    lambda cp=cp: fanout_to_subgraph().compile(
                        checkpointer=InMemorySaver() if cp else None
                    ),
                    lambda n=n: fanout_input(n),
                    verify_fanout(n),
                )
            )
    for k in (10, 100):
        for cp in (False, True):
            out.append(
                Shape(
                    f"react_agent_{k}x" + ("_checkpoint" if cp else ""),
                    lambda k=k, cp=cp: react_agent(k, InMemorySaver() if cp else None),
                    react_input,
                    verify_react(k),
                )
            )
    out.append(
        Shape(
            "concurrent_10k",
            lambda: concurrent_graph().compile(),
            lambda: None,
            verify_concurrent,
            timed=lambda graph, _input: concurrent_run(graph),
        )
    )
    return out


async def bench_shape(shape: Shape, runs: int) -> tuple[float, float]:
    graph = shape.build()  # compiled once, outside the timing
    input = shape.make_input()
    desc = await shape.verify(graph, input)  # counts asserted once per shape
    print(f"# {shape.name}: verified {desc}", file=sys.stderr, flush=True)
    await shape.timed(graph, input)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await shape.timed(graph, input)
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), min(times)


async def main_async(selected: list[Shape], runs: int) -> int:
    for shape in selected:
        try:
            median, mn = await bench_shape(shape, runs)
        except CountError as e:
            print(f"COUNT MISMATCH in {shape.name}: {e}", file=sys.stderr, flush=True)
            return 1
        print(f"{shape.name}\t{median:.3f}\t{mn:.3f}", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per shape (default 5)")
    ap.add_argument("--only", default="", help="comma-separated shape names")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be >= 1")

    all_shapes = shapes()
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        known = {s.name for s in all_shapes}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            ap.error(f"unknown shape(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        selected = [s for s in all_shapes if s.name in wanted]
    else:
        selected = all_shapes

    random.seed(0)
    print(f"# event loop: {LOOP_NAME}", file=sys.stderr, flush=True)
    with asyncio.Runner(loop_factory=LOOP_FACTORY) as runner:
        return runner.run(main_async(selected, args.runs))


if __name__ == "__main__":
    sys.exit(main())
