//! Request and response types of the Jira REST v3 calls the client makes (only the fields the
//! tools use; everything else Jira sends is ignored).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::adf::AdfDoc;

/// An issue to create (`POST /rest/api/3/issue`).
///
/// A project or issue type given as digits is sent as an id, anything else as a key (project)
/// or name (issue type).
///
/// ```
/// use agentflow_tools::jira::NewIssue;
///
/// let issue = NewIssue::new("ENG", "Bug", "Checkout fails")
///     .description_text("Steps:\nopen the cart\n\nExpected: it works")
///     .labels(["checkout"])
///     .field("priority", serde_json::json!({"name": "High"}));
/// let fields = issue.to_fields();
/// assert_eq!(fields["project"], serde_json::json!({"key": "ENG"}));
/// assert_eq!(fields["description"]["type"], "doc");
/// assert_eq!(fields["priority"]["name"], "High");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NewIssue {
    /// The project key (e.g. `ENG`) or id.
    pub project: String,
    /// The issue type name (e.g. `Task`) or id.
    pub issue_type: String,
    /// The one-line summary.
    pub summary: String,
    /// The description, if any.
    pub description: Option<AdfDoc>,
    /// Labels.
    pub labels: Vec<String>,
    /// Further fields (`priority`, `assignee`, custom fields...), sent as given; they override
    /// the ones above.
    pub extra_fields: Map<String, Value>,
}

impl NewIssue {
    /// An issue with a project, a type and a summary.
    pub fn new(
        project: impl Into<String>,
        issue_type: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        NewIssue {
            project: project.into(),
            issue_type: issue_type.into(),
            summary: summary.into(),
            description: None,
            labels: Vec::new(),
            extra_fields: Map::new(),
        }
    }

    /// Sets the description to an ADF document (see [`AdfDoc::from_value`] for raw ADF).
    pub fn description(mut self, doc: AdfDoc) -> Self {
        self.description = Some(doc);
        self
    }

    /// Sets the description from plain text (see [`AdfDoc::from_text`]).
    pub fn description_text(self, text: &str) -> Self {
        self.description(AdfDoc::from_text(text))
    }

    /// Sets the labels.
    pub fn labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels = labels.into_iter().map(Into::into).collect();
        self
    }

    /// Sets another field.
    pub fn field(mut self, id: impl Into<String>, value: Value) -> Self {
        self.extra_fields.insert(id.into(), value);
        self
    }

    /// The `fields` object of the request.
    pub fn to_fields(&self) -> Value {
        let mut fields = Map::new();
        fields.insert("project".into(), id_or(&self.project, "key"));
        fields.insert("issuetype".into(), id_or(&self.issue_type, "name"));
        fields.insert("summary".into(), Value::String(self.summary.clone()));
        if let Some(description) = &self.description {
            fields.insert("description".into(), description.as_value().clone());
        }
        if !self.labels.is_empty() {
            fields.insert("labels".into(), json!(self.labels));
        }
        for (id, value) in &self.extra_fields {
            fields.insert(id.clone(), value.clone());
        }
        Value::Object(fields)
    }
}

/// `{"id": value}` for digits, `{other: value}` otherwise.
fn id_or(value: &str, other: &str) -> Value {
    let key = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        "id"
    } else {
        other
    };
    json!({ key: value })
}

/// A created issue (the `201` of `POST /rest/api/3/issue`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedIssue {
    /// The issue id, e.g. `10000`.
    pub id: String,
    /// The issue key, e.g. `ENG-24`.
    pub key: String,
    /// The issue's REST URL.
    #[serde(rename = "self")]
    pub self_url: String,
}

/// A Jira user as embedded in comments and issues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The account id (compare with [`Myself::account_id`] to recognise the agent's own
    /// actions).
    pub account_id: String,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The account the client authenticates as (`GET /rest/api/3/myself`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Myself {
    /// The account id: drop webhook events whose actor is this account, or the agent reacts
    /// to its own comments and transitions.
    pub account_id: String,
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The email address (hidden by some privacy settings).
    #[serde(default)]
    pub email_address: Option<String>,
}

/// A comment (the `201` of `POST /rest/api/3/issue/{key}/comment`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    /// The comment id.
    pub id: String,
    /// The comment's REST URL.
    #[serde(rename = "self", default)]
    pub self_url: Option<String>,
    /// Who wrote it.
    #[serde(default)]
    pub author: Option<User>,
    /// When it was created (Jira's timestamp text).
    #[serde(default)]
    pub created: Option<String>,
    /// The body as Jira returned it (ADF).
    #[serde(default)]
    pub body: Option<Value>,
    /// The comment's entity properties (returned only with `expand=properties`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<EntityProperty>,
}

/// An entity property: a key and a JSON value stored on an issue or comment, invisible in
/// Jira's UI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityProperty {
    /// The property key.
    pub key: String,
    /// The property value.
    pub value: Value,
}

/// One page of an issue's comments (`GET /rest/api/3/issue/{key}/comment`).
#[derive(Deserialize)]
pub(crate) struct CommentPage {
    #[serde(default)]
    pub(crate) comments: Vec<Comment>,
}

/// A workflow status (the target of a transition).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRef {
    /// The status id.
    #[serde(default)]
    pub id: Option<String>,
    /// The status name, e.g. `In Progress`.
    pub name: String,
}

/// A transition available on an issue (`GET /rest/api/3/issue/{key}/transitions`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// The transition id (workflow specific: resolve it by name on each issue).
    pub id: String,
    /// The transition name, e.g. `Start Progress`.
    pub name: String,
    /// The status the issue moves to.
    #[serde(default)]
    pub to: Option<StatusRef>,
    /// False when Jira lists the transition but it cannot be taken now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_available: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct Transitions {
    #[serde(default)]
    pub(crate) transitions: Vec<Transition>,
}

/// Finds a transition by id, else by name, else by target status name (names compared
/// without case).
///
/// ```
/// use agentflow_tools::jira::{StatusRef, Transition, resolve_transition};
///
/// let transitions = vec![Transition {
///     id: "21".into(),
///     name: "Resolve".into(),
///     to: Some(StatusRef { id: Some("5".into()), name: "Done".into() }),
///     is_available: None,
/// }];
/// assert_eq!(resolve_transition(&transitions, "21").map(|t| t.name.as_str()), Some("Resolve"));
/// assert_eq!(resolve_transition(&transitions, "resolve").map(|t| t.id.as_str()), Some("21"));
/// assert_eq!(resolve_transition(&transitions, "DONE").map(|t| t.id.as_str()), Some("21"));
/// assert!(resolve_transition(&transitions, "Reopen").is_none());
/// ```
pub fn resolve_transition<'a>(transitions: &'a [Transition], wanted: &str) -> Option<&'a Transition> {
    let wanted = wanted.trim();
    transitions
        .iter()
        .find(|t| t.id == wanted)
        .or_else(|| transitions.iter().find(|t| t.name.eq_ignore_ascii_case(wanted)))
        .or_else(|| {
            transitions
                .iter()
                .find(|t| t.to.as_ref().is_some_and(|s| s.name.eq_ignore_ascii_case(wanted)))
        })
}

/// An issue as returned by get issue and search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// The issue id.
    pub id: String,
    /// The issue key (search returns only `id` unless fields were asked for).
    #[serde(default)]
    pub key: Option<String>,
    /// The issue's REST URL.
    #[serde(rename = "self", default)]
    pub self_url: Option<String>,
    /// The fields that were asked for, as Jira sent them (rich text is ADF).
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// One JQL search request (`POST /rest/api/3/search/jql`).
///
/// ```
/// use agentflow_tools::jira::SearchRequest;
///
/// let request = SearchRequest::new("project = ENG ORDER BY created DESC")
///     .fields(["summary", "status"])
///     .max_results(25);
/// assert_eq!(request.fields, ["summary", "status"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// The JQL; it must be bounded (`project = ENG ...`; an `ORDER BY` alone is refused).
    pub jql: String,
    /// The fields to return; empty means Jira's default, the `id` only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The page size (Jira's default is 50, and a page may be smaller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
    /// Where to continue: the previous page's [`SearchPage::next_page_token`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

impl SearchRequest {
    /// A first-page request for `jql`.
    pub fn new(jql: impl Into<String>) -> Self {
        SearchRequest {
            jql: jql.into(),
            fields: Vec::new(),
            max_results: None,
            next_page_token: None,
        }
    }

    /// Sets the fields to return.
    pub fn fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the page size.
    pub fn max_results(mut self, max_results: u32) -> Self {
        self.max_results = Some(max_results);
        self
    }

    /// Continues from a previous page.
    pub fn next_page_token(mut self, token: impl Into<String>) -> Self {
        self.next_page_token = Some(token.into());
        self
    }
}

/// One page of search results. There is no total: Jira's enhanced search does not count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    /// The issues of this page.
    #[serde(default)]
    pub issues: Vec<Issue>,
    /// The token for the next page; absent on the last one.
    #[serde(default)]
    pub next_page_token: Option<String>,
    /// True on the last page.
    #[serde(default)]
    pub is_last: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawSearchPage {
    #[serde(default)]
    pub(crate) issues: Vec<Issue>,
    #[serde(default)]
    pub(crate) next_page_token: Option<String>,
    #[serde(default)]
    pub(crate) is_last: Option<bool>,
}

impl From<RawSearchPage> for SearchPage {
    fn from(raw: RawSearchPage) -> Self {
        // Without `isLast`, only a missing token tells that this was the last page.
        let is_last = raw.is_last.unwrap_or(raw.next_page_token.is_none());
        SearchPage {
            issues: raw.issues,
            next_page_token: if is_last { None } else { raw.next_page_token },
            is_last,
        }
    }
}
