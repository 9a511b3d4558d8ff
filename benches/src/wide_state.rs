//! `wide_state_25x300`, `wide_state_15x600`, `wide_state_9x1200`: a wide state with mixed merge
//! rules, six nodes in a loop with a parallel branch and a join, and a large nested input that
//! the lists re-append (shared, never deep-copied) on every loop.
//!
//! The state mirrors LangGraph's `bench/wide_state.py` dataclass field for field (it has 15
//! fields there, although BENCHMARKS.md says 16; the merge rules listed in BENCHMARKS.md cover
//! the same 15).

use std::collections::BTreeMap;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;

use agentflow_core::{CompiledGraph, Context, END, EventData, NodeError, START, State, StateGraph};

use crate::{BenchError, StreamMode, drain, expect_eq, run_config};

/// A JSON-like value whose containers share their children, so that cloning one (to put it in
/// another list, as Python puts a reference) is a reference-count bump, never a deep copy.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Val {
    /// `None`.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(Arc<str>),
    /// A list.
    List(#[serde(serialize_with = "agentflow_core::checkpoint::shared::serialize")] Arc<[Val]>),
    /// A map (a Python dict).
    Map(#[serde(serialize_with = "agentflow_core::checkpoint::shared::serialize")] Arc<Map>),
}

/// The map inside [`Val::Map`].
pub type Map = BTreeMap<Arc<str>, Val>;

impl Val {
    /// Python truthiness: `None`, `False`, `0` and empty strings, lists and maps are false.
    pub fn is_truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Str(s) => !s.is_empty(),
            Val::List(l) => !l.is_empty(),
            Val::Map(m) => !m.is_empty(),
        }
    }

    /// The map `{s: s}` (how a node reads a string field).
    fn str_map(s: &str) -> Val {
        let s: Arc<str> = s.into();
        Val::Map(Arc::new(Map::from([(s.clone(), Val::Str(s))])))
    }
}

/// The wide state (LangGraph's `wide_state.py` `State` dataclass).
#[derive(State, Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WideState {
    /// Append.
    #[state(append)]
    #[serde(with = "shared")]
    pub messages: Vec<Val>,
    /// Append.
    #[state(append)]
    #[serde(with = "shared")]
    pub trigger_events: Vec<Val>,
    /// New value unless empty (`lambda x, y: y or x`); default `"email"`.
    #[state(reducer = str_unless_empty)]
    pub primary_issue_medium: String,
    /// Always overwrite (`lambda _, y: y`).
    #[state(reducer = overwrite)]
    pub autoresponse: Val,
    /// New value unless empty (`lambda x, y: y if y else x`).
    #[state(reducer = val_unless_empty)]
    pub issue: Val,
    /// Plain last value.
    #[serde(with = "shared_opt")]
    pub relevant_rules: Option<Vec<Val>>,
    /// Plain last value.
    #[serde(with = "shared_opt")]
    pub memory_docs: Option<Vec<Val>>,
    /// Append.
    #[state(append)]
    #[serde(with = "shared")]
    pub categorizations: Vec<Val>,
    /// Append.
    #[state(append)]
    #[serde(with = "shared")]
    pub responses: Vec<Val>,
    /// New value unless absent (`lambda x, y: y if y is not None else x`).
    #[state(reducer = val_unless_null)]
    pub user_info: Val,
    /// New value unless absent.
    #[state(reducer = val_unless_null)]
    pub crm_info: Val,
    /// New value unless absent.
    #[state(reducer = unless_none)]
    pub email_thread_id: Option<String>,
    /// Map union, right wins (`operator.or_`).
    #[state(merge)]
    pub slack_participants: Map,
    /// Plain last value.
    pub bot_id: Option<String>,
    /// Map union, right wins.
    #[state(merge)]
    pub notified_assignees: Map,
}

mod shared_list;
use shared_list::{shared, shared_opt};

impl Default for WideState {
    fn default() -> Self {
        WideState {
            messages: Vec::new(),
            trigger_events: Vec::new(),
            primary_issue_medium: "email".into(),
            autoresponse: Val::Null,
            issue: Val::Null,
            relevant_rules: None,
            memory_docs: None,
            categorizations: Vec::new(),
            responses: Vec::new(),
            user_info: Val::Null,
            crm_info: Val::Null,
            email_thread_id: None,
            slack_participants: Map::new(),
            bot_id: None,
            notified_assignees: Map::new(),
        }
    }
}

fn str_unless_empty(current: &mut String, incoming: String) {
    if !incoming.is_empty() {
        *current = incoming;
    }
}

fn overwrite(current: &mut Val, incoming: Val) {
    *current = incoming;
}

fn val_unless_empty(current: &mut Val, incoming: Val) {
    if incoming.is_truthy() {
        *current = incoming;
    }
}

fn val_unless_null(current: &mut Val, incoming: Val) {
    if incoming != Val::Null {
        *current = incoming;
    }
}

fn unless_none<T>(current: &mut Option<T>, incoming: Option<T>) {
    if incoming.is_some() {
        *current = incoming;
    }
}

/// A field of [`WideState`], as nodes name what they read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Field {
    Messages,
    TriggerEvents,
    PrimaryIssueMedium,
    Autoresponse,
    Issue,
    RelevantRules,
    MemoryDocs,
    Categorizations,
    Responses,
    UserInfo,
    CrmInfo,
    EmailThreadId,
    SlackParticipants,
    BotId,
    NotifiedAssignees,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Field::Messages => "messages",
            Field::TriggerEvents => "trigger_events",
            Field::PrimaryIssueMedium => "primary_issue_medium",
            Field::Autoresponse => "autoresponse",
            Field::Issue => "issue",
            Field::RelevantRules => "relevant_rules",
            Field::MemoryDocs => "memory_docs",
            Field::Categorizations => "categorizations",
            Field::Responses => "responses",
            Field::UserInfo => "user_info",
            Field::CrmInfo => "crm_info",
            Field::EmailThreadId => "email_thread_id",
            Field::SlackParticipants => "slack_participants",
            Field::BotId => "bot_id",
            Field::NotifiedAssignees => "notified_assignees",
        };
        f.write_str(name)
    }
}

/// What a node read: a list (borrowed from the state) or a single value.
enum Read<'a> {
    List(&'a [Val]),
    One(Val),
}

fn optional_list(list: &Option<Vec<Val>>) -> Read<'_> {
    match list {
        Some(l) => Read::List(l),
        None => Read::One(Val::Null),
    }
}

fn optional_str(s: &Option<String>) -> Read<'static> {
    match s {
        Some(s) => Read::One(Val::str_map(s)),
        None => Read::One(Val::Null),
    }
}

fn read(state: &WideState, field: Field) -> Read<'_> {
    match field {
        Field::Messages => Read::List(&state.messages),
        Field::TriggerEvents => Read::List(&state.trigger_events),
        Field::Categorizations => Read::List(&state.categorizations),
        Field::Responses => Read::List(&state.responses),
        Field::RelevantRules => optional_list(&state.relevant_rules),
        Field::MemoryDocs => optional_list(&state.memory_docs),
        Field::Autoresponse => Read::One(state.autoresponse.clone()),
        Field::Issue => Read::One(state.issue.clone()),
        Field::UserInfo => Read::One(state.user_info.clone()),
        Field::CrmInfo => Read::One(state.crm_info.clone()),
        Field::SlackParticipants => Read::One(Val::Map(Arc::new(state.slack_participants.clone()))),
        Field::NotifiedAssignees => Read::One(Val::Map(Arc::new(state.notified_assignees.clone()))),
        Field::PrimaryIssueMedium => Read::One(Val::str_map(&state.primary_issue_medium)),
        Field::EmailThreadId => optional_str(&state.email_thread_id),
        Field::BotId => optional_str(&state.bot_id),
    }
}

/// A fresh random lowercase string of length `n`.
fn random_string(n: usize) -> String {
    std::iter::repeat_with(fastrand::lowercase).take(n).collect()
}

/// The map a union field receives (Python's `dict | value` needs a dict).
fn as_map(field: Field, value: &Val) -> Result<Map, NodeError> {
    match value {
        Val::Map(m) => Ok(Map::clone(m)),
        other => Err(NodeError::terminal(format!(
            "`{field}` is a map union and cannot merge {other:?}"
        ))),
    }
}

/// The body every node shares (`read_write` in LangGraph's bench): read one field, write others.
fn read_write(
    state: &WideState,
    from: Field,
    writes: &[Field],
    n: usize,
) -> Result<WideStateUpdate, NodeError> {
    let value = read(state, from);
    let single = match &value {
        Read::List(l) => l
            .last()
            .cloned()
            .ok_or_else(|| NodeError::terminal(format!("`{from}` is an empty list: no last element")))?,
        Read::One(v) => v.clone(),
    };
    let list = || match &value {
        Read::List(l) => l.to_vec(),
        Read::One(v) => vec![v.clone()],
    };
    let mut update = WideStateUpdate::default();
    for &field in writes {
        update = match field {
            Field::Messages => update.messages(list()),
            Field::TriggerEvents => update.trigger_events(list()),
            Field::Categorizations => update.categorizations(list()),
            Field::Responses => update.responses(list()),
            Field::MemoryDocs => update.memory_docs(Some(list())),
            Field::RelevantRules => update.relevant_rules(Some(list())),
            Field::UserInfo => update.user_info(single.clone()),
            Field::CrmInfo => update.crm_info(single.clone()),
            Field::Autoresponse => update.autoresponse(single.clone()),
            Field::Issue => update.issue(single.clone()),
            Field::SlackParticipants => update.slack_participants(as_map(field, &single)?),
            Field::NotifiedAssignees => update.notified_assignees(as_map(field, &single)?),
            Field::PrimaryIssueMedium => update.primary_issue_medium(random_string(n)),
            Field::EmailThreadId => update.email_thread_id(Some(random_string(n))),
            Field::BotId => update.bot_id(Some(random_string(n))),
        };
    }
    Ok(update)
}

/// A node that reads `from` and writes `writes` (synchronous, like the bench's `def` nodes).
fn node(
    from: Field,
    writes: &'static [Field],
    n: usize,
) -> impl Fn(Arc<WideState>, Context) -> Ready<Result<WideStateUpdate, NodeError>> + Send + Sync + 'static {
    move |state: Arc<WideState>, _ctx: Context| ready(read_write(&state, from, writes, n))
}

/// The `(I, J, n)` of a shape: the input has `I x J` inner entries, and the loop ends once there
/// are more than `n` messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Outer keys of the input document.
    pub i: usize,
    /// Inner keys per outer key.
    pub j: usize,
    /// The loop stops once `len(messages) > n`; also the length of the random strings.
    pub n: usize,
}

/// `wide_state_25x300`.
pub const SIZE_25X300: Size = Size { i: 5, j: 5, n: 300 };
/// `wide_state_15x600`.
pub const SIZE_15X600: Size = Size { i: 3, j: 5, n: 600 };
/// `wide_state_9x1200`.
pub const SIZE_9X1200: Size = Size { i: 3, j: 3, n: 1200 };

impl Size {
    /// The shape's name, e.g. `wide_state_25x300`.
    pub fn name(self) -> String {
        format!("wide_state_{}x{}", self.i * self.j, self.n)
    }
}

/// Builds and compiles the graph for loop bound `n`.
pub fn build(n: usize) -> Result<CompiledGraph<WideState>, BenchError> {
    use Field::*;
    let mut graph = StateGraph::<WideState>::new();
    graph.add_node("one", node(Messages, &[TriggerEvents, PrimaryIssueMedium], n));
    graph.add_node("two", node(TriggerEvents, &[Autoresponse, Issue], n));
    graph.add_node("three", node(Autoresponse, &[RelevantRules], n));
    graph.add_node(
        "four",
        node(TriggerEvents, &[Categorizations, Responses, MemoryDocs], n),
    );
    graph.add_node(
        "five",
        node(
            Categorizations,
            &[
                UserInfo,
                CrmInfo,
                EmailThreadId,
                SlackParticipants,
                BotId,
                NotifiedAssignees,
            ],
            n,
        ),
    );
    graph.add_node("six", node(Responses, &[Field::Messages], n));
    graph.add_edge(START, "one");
    graph.add_edge("one", "two");
    graph.add_edge("two", "three");
    graph.add_edge("two", "four");
    graph.add_edge(["three", "four"], "five");
    graph.add_edge("five", "six");
    graph.add_conditional_edges(
        "six",
        move |s: &WideState| if s.messages.len() > n { END } else { "one" },
        ["one", END],
    );
    Ok(graph.compile()?)
}

/// The input document D: `{str(i)*10: {str(j)*10: ["hi?"*10, True, 1, 6327816386138, None] * 5
/// for j in 0..J} for i in 0..I}`.
pub fn input_doc(i_count: usize, j_count: usize) -> Val {
    let row = [
        Val::Str("hi?".repeat(10).into()),
        Val::Bool(true),
        Val::Int(1),
        Val::Int(6_327_816_386_138),
        Val::Null,
    ];
    let outer = (0..i_count)
        .map(|i| {
            let inner = (0..j_count)
                .map(|j| {
                    let list: Arc<[Val]> = row.iter().cycle().take(5 * row.len()).cloned().collect();
                    (j.to_string().repeat(10).into(), Val::List(list))
                })
                .collect::<Map>();
            (i.to_string().repeat(10).into(), Val::Map(Arc::new(inner)))
        })
        .collect::<Map>();
    Val::Map(Arc::new(outer))
}

/// The input update, `{"messages": [D]}` (build it once; cloning it shares D).
pub fn input(size: Size) -> WideStateUpdate {
    WideStateUpdate::default().messages(vec![input_doc(size.i, size.j)])
}

/// What one run produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Update events in the stream (one per node execution).
    pub update_events: usize,
    /// Supersteps (`RunOutput::steps`).
    pub steps: usize,
    /// Final length of `messages`.
    pub messages: usize,
    /// Final length of `trigger_events`.
    pub trigger_events: usize,
    /// Final length of `categorizations`.
    pub categorizations: usize,
    /// Final length of `responses`.
    pub responses: usize,
}

impl Counts {
    /// What BENCHMARKS.md (and LangGraph's run) gives for loop bound `n` (300, 600 or 1200).
    pub fn expected(n: usize) -> Option<Counts> {
        match n {
            300 => Some(Counts {
                update_events: 36,
                steps: 30,
                messages: 595,
                trigger_events: 277,
                categorizations: 406,
                responses: 406,
            }),
            600 | 1200 => Some(Counts {
                update_events: 42,
                steps: 35,
                messages: 1873,
                trigger_events: 872,
                categorizations: 1278,
                responses: 1278,
            }),
            _ => None,
        }
    }
}

/// One timed run: stream in updates mode with a fresh thread id and drain every event.
pub async fn run(graph: &CompiledGraph<WideState>, input: &WideStateUpdate) -> Result<Counts, BenchError> {
    let mut update_events = 0;
    let events = graph.stream(input.clone(), run_config(), StreamMode::Updates);
    let out = drain(events, |event| {
        if let EventData::Updates { .. } = event.data {
            update_events += 1;
        }
    })
    .await?;
    let s = &out.state;
    Ok(Counts {
        update_events,
        steps: out.steps,
        messages: s.messages.len(),
        trigger_events: s.trigger_events.len(),
        categorizations: s.categorizations.len(),
        responses: s.responses.len(),
    })
}

/// Runs once and checks the counts against BENCHMARKS.md; returns a description of them.
pub async fn verify(graph: &CompiledGraph<WideState>, size: Size) -> Result<String, BenchError> {
    let input = input(size);
    let counts = run(graph, &input).await?;
    expect_eq(
        &format!("{} counts", size.name()),
        Some(counts),
        Counts::expected(size.n),
    )?;
    Ok(format!(
        "{} update events, {} supersteps, {} final messages (trigger_events {}, categorizations {}, \
         responses {})",
        counts.update_events,
        counts.steps,
        counts.messages,
        counts.trigger_events,
        counts.categorizations,
        counts.responses
    ))
}
