//! The Jira tools a model calls: create issue, add comment, list and take transitions, JQL
//! search and get issue. Each wraps a [`JiraClient`]; failures become [`ToolError`]s through
//! [`From<JiraError>`](JiraError).

use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::adf::{self, AdfDoc};
use super::client::JiraClient;
use super::error::JiraError;
use super::types::{EntityProperty, Issue, NewIssue, SearchRequest, Transition, resolve_transition};
use crate::tool::{DynTool, Idempotency, Tool, ToolContext, ToolError, ToolRegistry, erase};

/// Jira's limit on a summary, in characters.
const MAX_SUMMARY_CHARS: usize = 255;
/// Issues per search call when the model does not say.
const DEFAULT_SEARCH_RESULTS: u32 = 20;
/// The most issues one search call returns (keeps the tool message readable).
const MAX_SEARCH_RESULTS: u32 = 100;
/// Fields a search returns when the model does not say (Jira's own default is the id only).
const DEFAULT_SEARCH_FIELDS: &[&str] = &[
    "summary",
    "status",
    "assignee",
    "issuetype",
    "priority",
    "updated",
];
/// Fields get issue returns when the model does not say.
const DEFAULT_ISSUE_FIELDS: &[&str] = &[
    "summary",
    "status",
    "assignee",
    "reporter",
    "issuetype",
    "priority",
    "labels",
    "created",
    "updated",
    "description",
    "comment",
];
/// The prefix of the label that carries a created issue's idempotency key.
pub const EFFECT_LABEL_PREFIX: &str = "agentflow-";
/// The entity property that carries a comment's idempotency key (`{"key": ...}`).
pub const EFFECT_PROPERTY_KEY: &str = "agentflow_effect";
/// How many of an issue's newest comments a reconciling comment reads.
const COMMENT_LOOKBACK: u32 = 100;

/// The label that marks the issue created with idempotency `key`: `agentflow-` and the key,
/// with every character other than ASCII letters, digits, `-` and `.` written as `_xx` (its
/// UTF-8 bytes in hex), so the label has no space and needs no quoting in JQL, and distinct
/// keys give distinct labels.
///
/// ```
/// use agentflow_tools::jira::effect_label;
///
/// assert_eq!(effect_label("0f3a:call_1"), "agentflow-0f3a_3acall_5f1");
/// assert_eq!(effect_label("a b\"c"), "agentflow-a_20b_22c");
/// ```
pub fn effect_label(key: &str) -> String {
    let mut label = String::from(EFFECT_LABEL_PREFIX);
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.' {
            label.push(char::from(byte));
        } else {
            label.push_str(&format!("_{byte:02x}"));
        }
    }
    label
}

/// Keys that only carry links and pictures, dropped from what the model reads.
const NOISE_KEYS: &[&str] = &["self", "avatarUrls", "iconUrl", "expand", "colorName"];

/// Every Jira tool, erased, for a [`ToolRegistry`] or a tool list.
///
/// ```
/// use agentflow_tools::jira::{self, JiraClient, JiraConfig};
///
/// let client = JiraClient::new(JiraConfig::new("https://your-domain.atlassian.net", "a@example.com", "t")?)?;
/// let names: Vec<_> = jira::tools(client).iter().map(|t| t.name().to_owned()).collect();
/// assert_eq!(
///     names,
///     [
///         "jira_create_issue",
///         "jira_add_comment",
///         "jira_list_transitions",
///         "jira_transition_issue",
///         "jira_search",
///         "jira_get_issue"
///     ]
/// );
/// # Ok::<_, jira::JiraError>(())
/// ```
pub fn tools(client: JiraClient) -> Vec<Arc<dyn DynTool>> {
    vec![
        erase(CreateIssueTool::new(client.clone())),
        erase(AddCommentTool::new(client.clone())),
        erase(ListTransitionsTool::new(client.clone())),
        erase(TransitionIssueTool::new(client.clone())),
        erase(SearchIssuesTool::new(client.clone())),
        erase(GetIssueTool::new(client)),
    ]
}

/// Adds every Jira tool to `registry`.
pub fn register(registry: &mut ToolRegistry, client: JiraClient) -> &mut ToolRegistry {
    for tool in tools(client) {
        registry.add_dyn(tool);
    }
    registry
}

/// Runs a client call, giving up when the run is cancelled.
async fn run<T>(ctx: &ToolContext, call: impl Future<Output = Result<T, JiraError>>) -> Result<T, ToolError> {
    tokio::select! {
        // Cancellation first, so an already-cancelled run sends nothing.
        biased;
        () = ctx.cancellation.cancelled() => Err(ToolError::terminal("the Jira call was cancelled")),
        result = call => result.map_err(ToolError::from),
    }
}

fn invalid(message: impl Into<String>) -> ToolError {
    ToolError::InvalidArguments(message.into())
}

/// An issue as the model reads it: rich text flattened, links and avatars dropped.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IssueView {
    /// The issue key, e.g. `ENG-12`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The issue id.
    pub id: String,
    /// The issue's page in Jira.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The fields asked for, ADF flattened to text.
    pub fields: Map<String, Value>,
}

impl IssueView {
    fn new(client: &JiraClient, issue: Issue) -> Self {
        IssueView {
            url: issue.key.as_deref().map(|key| client.browse_url(key)),
            key: issue.key,
            id: issue.id,
            fields: issue.fields.into_iter().map(|(k, v)| (k, simplify(v))).collect(),
        }
    }
}

/// ADF documents become text; link and avatar keys are dropped.
fn simplify(value: Value) -> Value {
    if adf::is_doc(&value) {
        return Value::String(adf::to_plain_text(&value));
    }
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !NOISE_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k, simplify(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(simplify).collect()),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------

/// Arguments of `jira_create_issue`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct CreateIssueArgs {
    /// The project key, e.g. "ENG".
    pub project_key: String,
    /// The issue type name, e.g. "Task", "Bug" or "Story". Defaults to "Task".
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// A one-line title, at most 255 characters.
    pub summary: String,
    /// The description as plain text; separate paragraphs with a blank line.
    #[serde(default)]
    pub description: Option<String>,
    /// Labels to set (single words, no spaces).
    #[serde(default)]
    pub labels: Vec<String>,
}

fn default_issue_type() -> String {
    "Task".into()
}

/// What `jira_create_issue` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreatedIssueView {
    /// The new issue's key, e.g. `ENG-24`.
    pub key: String,
    /// The new issue's id.
    pub id: String,
    /// The issue's page in Jira.
    pub url: String,
}

/// `jira_create_issue`: creates an issue (needs *Browse projects* and *Create issues*).
#[derive(Clone, Debug)]
pub struct CreateIssueTool {
    client: JiraClient,
}

impl CreateIssueTool {
    /// The tool over `client`.
    pub fn new(client: JiraClient) -> Self {
        CreateIssueTool { client }
    }
}

impl Tool for CreateIssueTool {
    type Args = CreateIssueArgs;
    type Output = CreatedIssueView;

    fn name(&self) -> &str {
        "jira_create_issue"
    }

    fn description(&self) -> &str {
        "Creates a Jira issue in a project and returns its key and URL. Each call creates a new \
         issue, so do not repeat a call that succeeded."
    }

    fn backend(&self) -> &str {
        "jira"
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::Reconcilable
    }

    async fn call(&self, args: CreateIssueArgs, ctx: ToolContext) -> Result<CreatedIssueView, ToolError> {
        let mut issue = new_issue(args)?;
        issue.labels.push(effect_label(&ctx.idempotency_key));
        let created = run(&ctx, self.client.create_issue(&issue)).await?;
        Ok(CreatedIssueView {
            url: self.client.browse_url(&created.key),
            key: created.key,
            id: created.id,
        })
    }

    /// Finds the issue labelled with the call's key (`labels = "agentflow-…"`). Jira's search
    /// index may lag a just-created issue by a few seconds; the tool node's backoff before
    /// reconciling gives it that time.
    async fn reconcile(
        &self,
        args: CreateIssueArgs,
        ctx: ToolContext,
    ) -> Result<Option<CreatedIssueView>, ToolError> {
        new_issue(args)?;
        let label = effect_label(&ctx.idempotency_key);
        let request = SearchRequest::new(format!("labels = \"{label}\""))
            .fields(["summary"])
            .max_results(1);
        let page = run(&ctx, self.client.search_jql(&request)).await?;
        let Some(issue) = page.issues.into_iter().next() else {
            return Ok(None);
        };
        let key = issue
            .key
            .ok_or_else(|| ToolError::terminal("Jira returned a search hit without its issue key"))?;
        Ok(Some(CreatedIssueView {
            url: self.client.browse_url(&key),
            key,
            id: issue.id,
        }))
    }
}

/// The issue the arguments describe, checked.
fn new_issue(args: CreateIssueArgs) -> Result<NewIssue, ToolError> {
    let summary = args.summary.trim();
    if summary.is_empty() {
        return Err(invalid("summary must not be empty"));
    }
    if summary.contains(['\n', '\r']) {
        return Err(invalid(
            "summary must be a single line; put details in the description",
        ));
    }
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        return Err(invalid(format!(
            "summary must be at most {MAX_SUMMARY_CHARS} characters; put details in the description"
        )));
    }
    if args.project_key.trim().is_empty() {
        return Err(invalid("project_key must not be empty"));
    }
    if let Some(label) = args
        .labels
        .iter()
        .find(|l| l.is_empty() || l.contains(char::is_whitespace))
    {
        return Err(invalid(format!(
            "label {label:?} must be a single word without spaces"
        )));
    }
    let mut issue =
        NewIssue::new(args.project_key.trim(), args.issue_type.trim(), summary).labels(args.labels);
    if let Some(text) = args.description.as_deref().filter(|t| !t.trim().is_empty()) {
        issue = issue.description_text(text);
    }
    Ok(issue)
}

// ---------------------------------------------------------------------------------------------

/// Arguments of `jira_add_comment`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct AddCommentArgs {
    /// The issue key, e.g. "ENG-12".
    pub issue_key: String,
    /// The comment as plain text; separate paragraphs with a blank line.
    pub body: String,
}

/// What `jira_add_comment` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommentAdded {
    /// The issue commented on.
    pub issue_key: String,
    /// The new comment's id.
    pub comment_id: String,
    /// When Jira recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// `jira_add_comment`: comments on an issue (needs *Browse projects* and *Add comments*).
#[derive(Clone, Debug)]
pub struct AddCommentTool {
    client: JiraClient,
}

impl AddCommentTool {
    /// The tool over `client`.
    pub fn new(client: JiraClient) -> Self {
        AddCommentTool { client }
    }
}

impl Tool for AddCommentTool {
    type Args = AddCommentArgs;
    type Output = CommentAdded;

    fn name(&self) -> &str {
        "jira_add_comment"
    }

    fn description(&self) -> &str {
        "Adds a comment to a Jira issue. Each call adds a new comment."
    }

    fn backend(&self) -> &str {
        "jira"
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::Reconcilable
    }

    async fn call(&self, args: AddCommentArgs, ctx: ToolContext) -> Result<CommentAdded, ToolError> {
        if args.body.trim().is_empty() {
            return Err(invalid("body must not be empty"));
        }
        let key = args.issue_key.trim();
        let property = EntityProperty {
            key: EFFECT_PROPERTY_KEY.to_owned(),
            value: serde_json::json!({ "key": ctx.idempotency_key }),
        };
        let body = AdfDoc::from_text(&args.body);
        let comment = run(
            &ctx,
            self.client.add_comment_with_properties(key, &body, &[property]),
        )
        .await?;
        Ok(CommentAdded {
            issue_key: key.to_owned(),
            comment_id: comment.id,
            created: comment.created,
        })
    }

    /// Finds, among the issue's newest 100 comments, the one whose `agentflow_effect`
    /// property holds the call's key.
    async fn reconcile(
        &self,
        args: AddCommentArgs,
        ctx: ToolContext,
    ) -> Result<Option<CommentAdded>, ToolError> {
        let key = args.issue_key.trim();
        let comments = run(&ctx, self.client.recent_comments(key, COMMENT_LOOKBACK)).await?;
        let found = comments.into_iter().find(|comment| {
            comment.properties.iter().any(|p| {
                p.key == EFFECT_PROPERTY_KEY
                    && p.value.get("key").and_then(Value::as_str) == Some(ctx.idempotency_key.as_str())
            })
        });
        Ok(found.map(|comment| CommentAdded {
            issue_key: key.to_owned(),
            comment_id: comment.id,
            created: comment.created,
        }))
    }
}

// ---------------------------------------------------------------------------------------------

/// Arguments of `jira_list_transitions` and `jira_get_issue` without fields.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct IssueKeyArgs {
    /// The issue key, e.g. "ENG-12".
    pub issue_key: String,
}

/// A transition as the model reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransitionView {
    /// The transition id.
    pub id: String,
    /// The transition name, e.g. "Start Progress".
    pub name: String,
    /// The status the issue moves to, e.g. "In Progress".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_status: Option<String>,
}

impl From<Transition> for TransitionView {
    fn from(t: Transition) -> Self {
        TransitionView {
            id: t.id,
            name: t.name,
            to_status: t.to.map(|s| s.name),
        }
    }
}

/// `jira_list_transitions`: the workflow transitions available on an issue now (needs
/// *Browse projects*; the list is empty without *Transition issues*).
#[derive(Clone, Debug)]
pub struct ListTransitionsTool {
    client: JiraClient,
}

impl ListTransitionsTool {
    /// The tool over `client`.
    pub fn new(client: JiraClient) -> Self {
        ListTransitionsTool { client }
    }
}

impl Tool for ListTransitionsTool {
    type Args = IssueKeyArgs;
    type Output = Vec<TransitionView>;

    fn name(&self) -> &str {
        "jira_list_transitions"
    }

    fn description(&self) -> &str {
        "Lists the workflow transitions (id, name, target status) that can be taken on a Jira issue now."
    }

    fn backend(&self) -> &str {
        "jira"
    }

    async fn call(&self, args: IssueKeyArgs, ctx: ToolContext) -> Result<Vec<TransitionView>, ToolError> {
        let transitions = run(&ctx, self.client.transitions(args.issue_key.trim())).await?;
        Ok(transitions.into_iter().map(TransitionView::from).collect())
    }
}

// ---------------------------------------------------------------------------------------------

/// Arguments of `jira_transition_issue`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct TransitionIssueArgs {
    /// The issue key, e.g. "ENG-12".
    pub issue_key: String,
    /// The transition's name (e.g. "Start Progress"), the status to move to (e.g. "Done") or
    /// the transition id; names are matched without case.
    pub transition: String,
}

/// What `jira_transition_issue` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransitionDone {
    /// The issue moved.
    pub issue_key: String,
    /// The transition taken.
    pub transition: TransitionView,
}

/// `jira_transition_issue`: moves an issue through its workflow, resolving a transition name
/// to its id first (needs *Browse projects* and *Transition issues*).
#[derive(Clone, Debug)]
pub struct TransitionIssueTool {
    client: JiraClient,
}

impl TransitionIssueTool {
    /// The tool over `client`.
    pub fn new(client: JiraClient) -> Self {
        TransitionIssueTool { client }
    }
}

impl Tool for TransitionIssueTool {
    type Args = TransitionIssueArgs;
    type Output = TransitionDone;

    fn name(&self) -> &str {
        "jira_transition_issue"
    }

    fn description(&self) -> &str {
        "Moves a Jira issue to another workflow status by taking a transition, given by name, \
         target status or id."
    }

    fn backend(&self) -> &str {
        "jira"
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::Reconcilable
    }

    /// Done when the issue's status already is the one asked for (`transition` given as the
    /// target status name). A transition given by its name or id cannot be checked this way:
    /// the call runs again and is resolved against the transitions of the issue's current
    /// status.
    async fn reconcile(
        &self,
        args: TransitionIssueArgs,
        ctx: ToolContext,
    ) -> Result<Option<TransitionDone>, ToolError> {
        let key = args.issue_key.trim();
        let wanted = args.transition.trim();
        let issue = run(&ctx, self.client.get_issue(key, &["status"])).await?;
        let status: Option<super::types::StatusRef> = issue
            .fields
            .get("status")
            .cloned()
            .and_then(|s| serde_json::from_value(s).ok());
        Ok(status
            .filter(|status| status.name.eq_ignore_ascii_case(wanted))
            .map(|status| TransitionDone {
                issue_key: key.to_owned(),
                transition: TransitionView {
                    id: String::new(),
                    name: wanted.to_owned(),
                    to_status: Some(status.name),
                },
            }))
    }

    async fn call(&self, args: TransitionIssueArgs, ctx: ToolContext) -> Result<TransitionDone, ToolError> {
        let key = args.issue_key.trim();
        let wanted = args.transition.trim();
        if wanted.is_empty() {
            return Err(invalid("transition must not be empty"));
        }
        // Ids differ between workflows, so even an id is checked against this issue's list.
        let transitions = run(&ctx, self.client.transitions(key)).await?;
        if transitions.is_empty() {
            return Err(ToolError::terminal(format!(
                "{key} has no transitions available to this account (it may lack the Transition issues \
                 permission, or the workflow offers none from the current status)"
            )));
        }
        let Some(transition) = resolve_transition(&transitions, wanted).cloned() else {
            let available: Vec<String> = transitions
                .iter()
                .map(|t| match &t.to {
                    Some(to) => format!("{:?} (id {}, to {:?})", t.name, t.id, to.name),
                    None => format!("{:?} (id {})", t.name, t.id),
                })
                .collect();
            return Err(invalid(format!(
                "no transition {wanted:?} is available for {key}; available: {}",
                available.join(", ")
            )));
        };
        run(&ctx, self.client.transition_issue(key, &transition.id)).await?;
        Ok(TransitionDone {
            issue_key: key.to_owned(),
            transition: transition.into(),
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// Arguments of `jira_search`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// A bounded JQL query, e.g. `project = ENG AND status = "In Progress" ORDER BY updated DESC`.
    /// A query with only an ORDER BY is refused by Jira.
    pub jql: String,
    /// Fields to return, e.g. ["summary", "status"]. Defaults to summary, status, assignee,
    /// issuetype, priority and updated.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// How many issues to return, 1 to 100. Defaults to 20.
    #[serde(default)]
    pub max_results: Option<u32>,
    /// The `next_page_token` of a previous call, to get the issues after it.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// What `jira_search` returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchOutput {
    /// The matching issues.
    pub issues: Vec<IssueView>,
    /// Pass this back as `next_page_token` to get more; absent when there are no more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// True when these are the last matches.
    pub is_last: bool,
}

/// `jira_search`: a JQL search through `/rest/api/3/search/jql` (needs *Browse projects* on
/// the projects searched; issues the account may not see are silently left out).
#[derive(Clone, Debug)]
pub struct SearchIssuesTool {
    client: JiraClient,
}

impl SearchIssuesTool {
    /// The tool over `client`.
    pub fn new(client: JiraClient) -> Self {
        SearchIssuesTool { client }
    }
}

impl Tool for SearchIssuesTool {
    type Args = SearchArgs;
    type Output = SearchOutput;

    fn name(&self) -> &str {
        "jira_search"
    }

    fn description(&self) -> &str {
        "Searches Jira issues with JQL. Returns the issues with the requested fields, and a \
         next_page_token when more match."
    }

    fn backend(&self) -> &str {
        "jira"
    }

    async fn call(&self, args: SearchArgs, ctx: ToolContext) -> Result<SearchOutput, ToolError> {
        if args.jql.trim().is_empty() {
            return Err(invalid("jql must not be empty"));
        }
        let limit = args
            .max_results
            .unwrap_or(DEFAULT_SEARCH_RESULTS)
            .clamp(1, MAX_SEARCH_RESULTS);
        let fields = match args.fields {
            Some(fields) if !fields.is_empty() => fields,
            _ => DEFAULT_SEARCH_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
        };
        let mut request = SearchRequest::new(args.jql).fields(fields).max_results(limit);
        request.next_page_token = args.next_page_token.filter(|t| !t.is_empty());
        let page = run(&ctx, self.client.search_all(request, limit as usize)).await?;
        Ok(SearchOutput {
            issues: page
                .issues
                .into_iter()
                .map(|i| IssueView::new(&self.client, i))
                .collect(),
            next_page_token: page.next_page_token,
            is_last: page.is_last,
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// Arguments of `jira_get_issue`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct GetIssueArgs {
    /// The issue key, e.g. "ENG-12".
    pub issue_key: String,
    /// Fields to return, e.g. ["summary", "description"]. Defaults to summary, status,
    /// assignee, reporter, issuetype, priority, labels, created, updated, description and
    /// comment.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

/// `jira_get_issue`: reads one issue (needs *Browse projects*).
#[derive(Clone, Debug)]
pub struct GetIssueTool {
    client: JiraClient,
}

impl GetIssueTool {
    /// The tool over `client`.
    pub fn new(client: JiraClient) -> Self {
        GetIssueTool { client }
    }
}

impl Tool for GetIssueTool {
    type Args = GetIssueArgs;
    type Output = IssueView;

    fn name(&self) -> &str {
        "jira_get_issue"
    }

    fn description(&self) -> &str {
        "Reads a Jira issue: its fields, with description and comments as plain text."
    }

    fn backend(&self) -> &str {
        "jira"
    }

    async fn call(&self, args: GetIssueArgs, ctx: ToolContext) -> Result<IssueView, ToolError> {
        let fields: Vec<&str> = match &args.fields {
            Some(fields) if !fields.is_empty() => fields.iter().map(String::as_str).collect(),
            _ => DEFAULT_ISSUE_FIELDS.to_vec(),
        };
        let issue = run(&ctx, self.client.get_issue(args.issue_key.trim(), &fields)).await?;
        Ok(IssueView::new(&self.client, issue))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn views_flatten_adf_and_drop_noise() {
        let fields = json!({
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "broken"}]}
            ]},
            "assignee": {"accountId": "a1", "displayName": "Mia", "avatarUrls": {"48x48": "x"}, "self": "u"},
            "comment": {"comments": [{"id": "1", "body": {"type": "doc", "version": 1, "content": []}}]}
        });
        assert_eq!(
            simplify(fields),
            json!({
                "description": "broken",
                "assignee": {"accountId": "a1", "displayName": "Mia"},
                "comment": {"comments": [{"id": "1", "body": ""}]}
            })
        );
    }
}
