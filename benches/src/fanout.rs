//! `fanout_to_subgraph_10x`, `fanout_to_subgraph_100x`: one dynamic fan-out from START, one
//! `Send` per subject to `generate_joke`, a compiled subgraph of 12 node executions
//! (edit, generate, then bump ten times).
//!
//! As in LangGraph's bench, each subject is a *list* of 1000 one-character strings; the subgraph
//! receives the list, and `edit` renders it as Python's `str(list)` does (`['a', 'b', ...]`,
//! about 5000 characters) before appending `" - hohoho"`.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use agentflow_core::{CompiledGraph, Context, END, EventData, NodeError, START, Send, State, StateGraph};

use crate::{BenchError, StreamMode, drain, expect_eq, run_config};

/// A subject: a list of strings.
pub type SubjectList = Arc<[String]>;

/// The parent state (`OverallState`).
#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
pub struct Overall {
    /// The subjects (last value).
    pub subjects: Vec<SubjectList>,
    /// The jokes (appended).
    #[state(append)]
    pub jokes: Vec<String>,
}

/// The subject inside the subgraph: the list it arrives as, then the text `edit` makes of it
/// (Python's `subject` field holds either, too).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Subject {
    /// A list of strings, as sent.
    List(SubjectList),
    /// Text.
    Text(String),
}

impl Default for Subject {
    fn default() -> Self {
        Subject::Text(String::new())
    }
}

/// Writes `s` as Python's `repr(str)` does for printable text.
fn write_py_repr(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c == quote => {
                out.write_char('\\')?;
                out.write_char(c)?;
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(out, "\\x{:02x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char(quote)
}

/// Python's `str()`: a list renders as `['a', 'b', ...]`, text as itself.
impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Text(text) => f.write_str(text),
            Subject::List(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_py_repr(f, item)?;
                }
                f.write_char(']')
            }
        }
    }
}

/// The subgraph state (`JokeState`): `jokes` keeps the last value inside the subgraph.
#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
pub struct JokeState {
    /// The subject.
    pub subject: Subject,
    /// The jokes (last value).
    pub jokes: Vec<String>,
}

/// The payload of each `Send` (`JokeInput`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct JokeInput {
    /// The subject.
    pub subject: SubjectList,
}

/// The suffix every finished joke ends with: `" a"` ten times.
pub fn joke_suffix() -> String {
    " a".repeat(10)
}

async fn edit(state: Arc<JokeState>, _ctx: Context) -> Result<JokeStateUpdate, NodeError> {
    Ok(JokeStateUpdate::default().subject(Subject::Text(format!("{} - hohoho", state.subject))))
}

async fn generate(state: Arc<JokeState>, _ctx: Context) -> Result<JokeStateUpdate, NodeError> {
    Ok(JokeStateUpdate::default().jokes(vec![format!("Joke about {}", state.subject)]))
}

async fn bump(state: Arc<JokeState>, _ctx: Context) -> Result<JokeStateUpdate, NodeError> {
    let first = state
        .jokes
        .first()
        .ok_or_else(|| NodeError::terminal("bump: `jokes` is empty"))?;
    Ok(JokeStateUpdate::default().jokes(vec![format!("{first} a")]))
}

fn bump_loop(state: &JokeState) -> &'static str {
    let done = state
        .jokes
        .first()
        .is_some_and(|j| j.ends_with(" a a a a a a a a a a"));
    if done { END } else { "bump" }
}

/// Builds and compiles the joke subgraph.
pub fn build_subgraph() -> Result<CompiledGraph<JokeState>, BenchError> {
    let mut graph = StateGraph::<JokeState>::new();
    graph.add_node("edit", edit);
    graph.add_node("generate", generate);
    graph.add_node("bump", bump);
    graph.add_sequence([START, "edit", "generate", "bump"]);
    graph.add_conditional_edges("bump", bump_loop, ["bump", END]);
    Ok(graph.compile()?)
}

/// Builds and compiles the parent graph, with the subgraph as the send-only node `generate_joke`.
pub fn build() -> Result<CompiledGraph<Overall>, BenchError> {
    let subgraph = build_subgraph()?;
    let mut graph = StateGraph::<Overall>::new();
    graph.add_send_node(
        "generate_joke",
        subgraph.as_node(
            |input: JokeInput| JokeStateUpdate::default().subject(Subject::List(input.subject)),
            |joke: JokeState| OverallUpdate::default().jokes(joke.jokes),
        ),
    );
    graph.add_conditional_edges(
        START,
        |s: &Overall| {
            s.subjects
                .iter()
                .map(|subject| {
                    Send::new(
                        "generate_joke",
                        JokeInput {
                            subject: subject.clone(),
                        },
                    )
                })
                .collect::<Vec<_>>()
        },
        ["generate_joke"],
    );
    graph.add_edge("generate_joke", END);
    Ok(graph.compile()?)
}

/// `n` subjects, each a list of 1000 random lowercase one-character strings.
pub fn subjects(n: usize) -> Vec<SubjectList> {
    (0..n)
        .map(|_| (0..1000).map(|_| fastrand::lowercase().to_string()).collect())
        .collect()
}

/// The input update for `n` subjects (build it once; cloning it shares the subjects).
pub fn input(n: usize) -> OverallUpdate {
    OverallUpdate::default().subjects(subjects(n))
}

/// What one run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Update events of the root graph (one per `generate_joke` task).
    pub update_events: usize,
    /// Update events from inside the subgraphs: none in the timed run (like LangGraph's default
    /// `subgraphs=False`), 12 per subject when streamed with `with_subgraphs()`.
    pub subgraph_update_events: usize,
    /// Supersteps of the root graph.
    pub steps: usize,
    /// Final number of jokes.
    pub jokes: usize,
    /// Jokes that end with `" a"` exactly ten times and start with `"Joke about ["`.
    pub well_formed_jokes: usize,
    /// The length of the first joke (5040 characters with 1000-element subjects).
    pub first_joke_len: usize,
}

impl Counts {
    /// What BENCHMARKS.md expects for `n` subjects of 1000 letters: `n` root update events, one
    /// root superstep, `n` jokes ending in `" a"` ten times (12 subgraph node runs each).
    pub fn expected(n: usize) -> Counts {
        Counts {
            update_events: n,
            subgraph_update_events: 0,
            steps: 1,
            jokes: n,
            well_formed_jokes: n,
            first_joke_len: if n == 0 { 0 } else { 5040 },
        }
    }
}

/// True when `joke` has the finished form.
pub fn is_well_formed(joke: &str) -> bool {
    let ten = joke_suffix();
    joke.starts_with("Joke about [") && joke.ends_with(&ten) && !joke.ends_with(&format!(" a{ten}"))
}

/// One timed run: stream in updates mode with a fresh thread id and drain every event.
pub async fn run(graph: &CompiledGraph<Overall>, input: &OverallUpdate) -> Result<Counts, BenchError> {
    run_with(graph, input, StreamMode::Updates.into()).await
}

/// [`run`] with chosen stream modes (tests add the subgraphs' events).
pub async fn run_with(
    graph: &CompiledGraph<Overall>,
    input: &OverallUpdate,
    modes: agentflow_core::StreamModes,
) -> Result<Counts, BenchError> {
    let mut update_events = 0;
    let mut subgraph_update_events = 0;
    let events = graph.stream(input.clone(), run_config(), modes);
    let out = drain(events, |event| match event.data {
        EventData::Updates { .. } => update_events += 1,
        EventData::SubgraphUpdates { .. } => subgraph_update_events += 1,
        _ => {}
    })
    .await?;
    let jokes = &out.state.jokes;
    Ok(Counts {
        update_events,
        subgraph_update_events,
        steps: out.steps,
        jokes: jokes.len(),
        well_formed_jokes: jokes.iter().filter(|j| is_well_formed(j)).count(),
        first_joke_len: jokes.first().map_or(0, String::len),
    })
}

/// Runs once and checks the counts against BENCHMARKS.md; returns a description of them.
pub async fn verify(graph: &CompiledGraph<Overall>, n: usize) -> Result<String, BenchError> {
    let counts = run(graph, &input(n)).await?;
    expect_eq(
        &format!("fanout_to_subgraph_{n}x counts"),
        &counts,
        &Counts::expected(n),
    )?;
    Ok(format!(
        "{} root update events ({} from subgraphs), {} jokes ending in ' a'*10 (joke length {})",
        counts.update_events, counts.subgraph_update_events, counts.jokes, counts.first_joke_len
    ))
}
