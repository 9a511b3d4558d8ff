#![cfg(feature = "jira")]
//! The Jira backend against a local fake Jira Cloud (axum on 127.0.0.1) that follows the REST v3
//! protocol: Basic auth, ErrorCollection bodies, ADF validation, 204 transitions, token-paged
//! `/search/jql` (and a 410 on the removed `/search`), rate limits and broken responses.

use agentflow_core::Failure;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_tools::jira::{
    self, AdfDoc, CreatedIssue, ErrorCollection, JiraClient, JiraConfig, JiraError, NewIssue, SearchRequest,
};
use agentflow_tools::{DynTool, ToolContext, ToolError, ToolRegistry};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

const EMAIL: &str = "agent@example.com";
const TOKEN: &str = "ATATT3xFfGF0-very-secret-token";
const ACCOUNT_ID: &str = "5b10ac8d82e05b22cc7d4ef5";
const NOT_FOUND: &str = "Issue does not exist or you do not have permission to see it.";
const NOT_ADF: &str = "Operation value must be an Atlassian Document (see the Atlassian Document Format)";
/// The fake never returns more than this many issues per search page (real pages may be
/// smaller than `maxResults` too).
const FAKE_PAGE_CAP: usize = 3;

// ---------------------------------------------------------------------------------------------
// The fake Jira

/// One request as the fake received it.
#[derive(Clone, Debug)]
struct Recorded {
    method: Method,
    path: String,
    query: Option<String>,
    body: Value,
}

struct StoredIssue {
    id: String,
    key: String,
    fields: Map<String, Value>,
}

#[derive(Default)]
struct FakeState {
    base: String,
    requests: Vec<Recorded>,
    issues: Vec<StoredIssue>,
    next_number: u64,
}

type Shared = Arc<Mutex<FakeState>>;

struct Fake {
    base: String,
    state: Shared,
}

impl Fake {
    async fn start() -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut state = FakeState {
            base: base.clone(),
            next_number: 8,
            ..FakeState::default()
        };
        for n in 1..=7 {
            state.issues.push(seed_issue(&base, "ENG", n));
        }
        state.issues.push(seed_issue(&base, "LOCK", 1));
        let state = Arc::new(Mutex::new(state));
        let app = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fake { base, state }
    }

    fn config(&self) -> JiraConfig {
        JiraConfig::new(&self.base, EMAIL, TOKEN).unwrap()
    }

    fn client(&self) -> JiraClient {
        JiraClient::new(self.config()).unwrap()
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    fn bodies_to(&self, method: Method, path: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .map(|r| r.body)
            .collect()
    }

    fn status_of(&self, key: &str) -> Value {
        let state = self.state.lock().unwrap();
        state.issues.iter().find(|i| i.key == key).unwrap().fields["status"]["name"].clone()
    }
}

fn seed_issue(base: &str, project: &str, n: u64) -> StoredIssue {
    let id = if project == "ENG" { 10000 + n } else { 20000 + n };
    let fields = json!({
        "summary": format!("Issue {n}"),
        "status": status_json(base, "10000", "To Do"),
        "issuetype": {"name": "Task", "id": "10002", "iconUrl": format!("{base}/icon.png")},
        "assignee": {
            "accountId": "5b10a2844c20165700ede21g",
            "displayName": "Mia Krystof",
            "avatarUrls": {"48x48": format!("{base}/avatar.png")},
            "self": format!("{base}/rest/api/3/user?accountId=5b10a2844c20165700ede21g")
        },
        "description": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": format!("Description of issue {n}.")}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "Second paragraph."}]}
        ]}
    });
    StoredIssue {
        id: id.to_string(),
        key: format!("{project}-{n}"),
        fields: fields.as_object().unwrap().clone(),
    }
}

fn status_json(base: &str, id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "self": format!("{base}/rest/api/3/status/{id}")})
}

fn fake_transitions(base: &str) -> Value {
    json!([
        {"id": "11", "name": "Start Progress", "hasScreen": false, "isAvailable": true,
         "to": status_json(base, "3", "In Progress")},
        {"id": "21", "name": "Resolve", "hasScreen": false, "isAvailable": true,
         "to": status_json(base, "10001", "Done")}
    ])
}

fn error_collection(status: StatusCode, messages: &[&str], errors: Value) -> Response {
    (
        status,
        axum::Json(json!({"errorMessages": messages, "errors": errors})),
    )
        .into_response()
}

fn not_found() -> Response {
    error_collection(StatusCode::NOT_FOUND, &[NOT_FOUND], json!({}))
}

fn is_adf_doc(value: &Value) -> bool {
    value["type"] == "doc" && value["version"] == 1 && value["content"].is_array()
}

/// Standard Base64 (the tests may not add a dependency for it).
fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let bytes = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.lock().unwrap().requests.push(Recorded {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        body: json_body.clone(),
    });

    let expected = format!("Basic {}", base64(format!("{EMAIL}:{TOKEN}").as_bytes()));
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return error_collection(
            StatusCode::UNAUTHORIZED,
            &["You are not authenticated. Authentication required to perform this operation."],
            json!({}),
        );
    }

    let Some(rest) = uri.path().strip_prefix("/rest/api/3/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let segments: Vec<&str> = rest.split('/').collect();

    // Failure modes, by issue key.
    if let ["issue", key, ..] = segments.as_slice() {
        match *key {
            "RATE-1" => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "7"), ("ratelimit-reason", "jira-burst-based")],
                    axum::Json(json!({"errorMessages": ["Rate limit exceeded."], "errors": {}})),
                )
                    .into_response();
            }
            "BOOM-1" => {
                return error_collection(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &["Internal server error"],
                    json!({}),
                );
            }
            "JUNK-1" => {
                return (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"id":"30001","key":"JUNK-1","fiel"#,
                )
                    .into_response();
            }
            "HUGE-1" => {
                let huge =
                    json!({"id": "30002", "key": "HUGE-1", "fields": {"summary": "x".repeat(64 * 1024)}});
                return axum::Json(huge).into_response();
            }
            "SLOW-1" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                return StatusCode::NO_CONTENT.into_response();
            }
            "SECRET-1" => {
                return error_collection(
                    StatusCode::FORBIDDEN,
                    &["You do not have permission to view this issue."],
                    json!({}),
                );
            }
            _ => {}
        }
    }

    let mut state = state.lock().unwrap();
    let base = state.base.clone();
    match (method, segments.as_slice()) {
        (_, ["search"]) => error_collection(
            StatusCode::GONE,
            &["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."],
            json!({}),
        ),
        (Method::GET, ["myself"]) => axum::Json(json!({
            "accountId": ACCOUNT_ID,
            "accountType": "atlassian",
            "displayName": "Agent",
            "emailAddress": EMAIL,
            "self": format!("{base}/rest/api/3/user?accountId={ACCOUNT_ID}")
        }))
        .into_response(),
        (Method::POST, ["issue"]) => create_issue(&mut state, &json_body),
        (Method::GET, ["issue", key]) => {
            let Some(issue) = state.issues.iter().find(|i| i.key == *key) else {
                return not_found();
            };
            let wanted = uri
                .query()
                .and_then(|q| q.strip_prefix("fields="))
                .map(|f| f.replace("%2C", ","));
            let fields: Map<String, Value> = match wanted {
                Some(list) => issue
                    .fields
                    .iter()
                    .filter(|(k, _)| list.split(',').any(|w| w == *k))
                    .map(clone_pair)
                    .collect(),
                None => issue.fields.clone(),
            };
            axum::Json(json!({
                "expand": "renderedFields,names,schema",
                "id": issue.id,
                "key": issue.key,
                "self": format!("{base}/rest/api/3/issue/{}", issue.id),
                "fields": fields
            }))
            .into_response()
        }
        (Method::POST, ["issue", key, "comment"]) => {
            if !state.issues.iter().any(|i| i.key == *key) {
                return not_found();
            }
            if !is_adf_doc(&json_body["body"]) {
                return error_collection(StatusCode::BAD_REQUEST, &[], json!({"comment": NOT_ADF}));
            }
            (
                StatusCode::CREATED,
                axum::Json(json!({
                    "id": "10500",
                    "self": format!("{base}/rest/api/3/issue/{key}/comment/10500"),
                    "author": {"accountId": ACCOUNT_ID, "displayName": "Agent", "active": true},
                    "body": json_body["body"],
                    "created": "2026-11-24T12:34:00.000+0000",
                    "updated": "2026-11-24T12:34:00.000+0000"
                })),
            )
                .into_response()
        }
        (Method::GET, ["issue", key, "transitions"]) => {
            if !state.issues.iter().any(|i| i.key == *key) {
                return not_found();
            }
            // Without the Transition issues permission the list is empty, not an error.
            let transitions = if key.starts_with("LOCK-") {
                json!([])
            } else {
                fake_transitions(&base)
            };
            axum::Json(json!({"expand": "transitions", "transitions": transitions})).into_response()
        }
        (Method::POST, ["issue", key, "transitions"]) => {
            let Some(index) = state.issues.iter().position(|i| i.key == *key) else {
                return not_found();
            };
            let Some(id) = json_body["transition"]["id"].as_str() else {
                return error_collection(
                    StatusCode::BAD_REQUEST,
                    &[],
                    json!({"transition": "transition is required"}),
                );
            };
            let transitions = fake_transitions(&base);
            let Some(transition) = transitions.as_array().unwrap().iter().find(|t| t["id"] == id) else {
                let message = format!("Transition id '{id}' is not valid for this issue.");
                return error_collection(StatusCode::BAD_REQUEST, &[&message], json!({}));
            };
            state.issues[index]
                .fields
                .insert("status".into(), transition["to"].clone());
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::POST, ["search", "jql"]) => search(&state, &json_body),
        _ => not_found(),
    }
}

fn clone_pair((k, v): (&String, &Value)) -> (String, Value) {
    (k.clone(), v.clone())
}

fn create_issue(state: &mut FakeState, body: &Value) -> Response {
    let fields = &body["fields"];
    let mut errors = Map::new();
    if fields["project"]["key"] != "ENG" {
        errors.insert("project".into(), json!("valid project is required"));
    }
    if !fields["issuetype"]["name"].is_string() && !fields["issuetype"]["id"].is_string() {
        errors.insert("issuetype".into(), json!("Specify an issue type"));
    }
    if fields["summary"].as_str().is_none_or(|s| s.trim().is_empty()) {
        errors.insert(
            "summary".into(),
            json!("You must specify a summary of the issue."),
        );
    }
    if let Some(description) = fields.get("description")
        && !is_adf_doc(description)
    {
        errors.insert("description".into(), json!(NOT_ADF));
    }
    if !errors.is_empty() {
        return error_collection(StatusCode::BAD_REQUEST, &[], Value::Object(errors));
    }
    let number = state.next_number;
    state.next_number += 1;
    let id = (10000 + number).to_string();
    let key = format!("ENG-{number}");
    let self_url = format!("{}/rest/api/3/issue/{id}", state.base);
    let mut stored = fields.as_object().unwrap().clone();
    stored.insert("status".into(), status_json(&state.base, "10000", "To Do"));
    state.issues.push(StoredIssue {
        id: id.clone(),
        key: key.clone(),
        fields: stored,
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "key": key, "self": self_url})),
    )
        .into_response()
}

fn search(state: &FakeState, body: &Value) -> Response {
    let jql = body["jql"].as_str().unwrap_or_default().trim();
    let project = jql
        .strip_prefix("project = ")
        .and_then(|rest| rest.split_whitespace().next())
        .map(|p| p.trim_matches('"').to_owned());
    let Some(project) = project else {
        return error_collection(
            StatusCode::BAD_REQUEST,
            &["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."],
            json!({}),
        );
    };
    let start = match body.get("nextPageToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => match token.strip_prefix("tok-").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return error_collection(StatusCode::BAD_REQUEST, &["Invalid nextPageToken."], json!({})),
        },
    };
    let max = body["maxResults"]
        .as_u64()
        .map_or(50, |m| m as usize)
        .min(FAKE_PAGE_CAP);
    let matching: Vec<&StoredIssue> = state
        .issues
        .iter()
        .filter(|i| i.key.starts_with(&format!("{project}-")))
        .collect();
    let end = (start + max).min(matching.len());
    let wanted: Option<Vec<&str>> = body["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect());
    let issues: Vec<Value> = matching[start.min(end)..end]
        .iter()
        .map(|issue| match &wanted {
            // The default is the id only.
            None => json!({"id": issue.id}),
            Some(wanted) => {
                let fields: Map<String, Value> = issue
                    .fields
                    .iter()
                    .filter(|(k, _)| wanted.contains(&"*all") || wanted.contains(&k.as_str()))
                    .map(clone_pair)
                    .collect();
                json!({
                    "expand": "",
                    "id": issue.id,
                    "key": issue.key,
                    "self": format!("{}/rest/api/3/issue/{}", state.base, issue.id),
                    "fields": fields
                })
            }
        })
        .collect();
    let is_last = end >= matching.len();
    let mut page = json!({"issues": issues, "isLast": is_last});
    if !is_last {
        page["nextPageToken"] = json!(format!("tok-{end}"));
    }
    axum::Json(page).into_response()
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn ctx() -> ToolContext {
    ToolContext::new("test-call")
}

fn registry(fake: &Fake) -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    jira::register(&mut registry, fake.client());
    registry
}

async fn call(registry: &ToolRegistry, tool: &str, args: Value) -> Result<Value, ToolError> {
    let tool = registry.get(tool).unwrap_or_else(|| panic!("no tool {tool}"));
    tool.call_json(args, ctx()).await
}

fn paragraph(text: &str) -> Value {
    json!({"type": "paragraph", "content": [{"type": "text", "text": text}]})
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn test_base64_is_standard() {
    assert_eq!(base64(b"Man"), "TWFu");
    assert_eq!(base64(b"Ma"), "TWE=");
    assert_eq!(base64(b"M"), "TQ==");
}

#[tokio::test]
async fn create_issue_sends_an_adf_description_and_returns_the_key() {
    let fake = Fake::start().await;
    let created = fake
        .client()
        .create_issue(
            &NewIssue::new("ENG", "Bug", "Checkout fails")
                .description_text("Steps:\nopen the cart\n\nExpected: it works")
                .labels(["checkout"]),
        )
        .await
        .unwrap();
    assert_eq!(
        created,
        CreatedIssue {
            id: "10008".into(),
            key: "ENG-8".into(),
            self_url: format!("{}/rest/api/3/issue/10008", fake.base),
        }
    );
    let bodies = fake.bodies_to(Method::POST, "/rest/api/3/issue");
    assert_eq!(
        bodies,
        [json!({"fields": {
            "project": {"key": "ENG"},
            "issuetype": {"name": "Bug"},
            "summary": "Checkout fails",
            "labels": ["checkout"],
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "Steps:"}, {"type": "hardBreak"}, {"type": "text", "text": "open the cart"}
                ]},
                paragraph("Expected: it works")
            ]}
        }})]
    );
}

#[tokio::test]
async fn create_issue_accepts_raw_adf() {
    let fake = Fake::start().await;
    let raw = json!({"type": "doc", "version": 1, "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Impact"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "All orders", "marks": [{"type": "strong"}]}]}
    ]});
    let doc = AdfDoc::from_value(raw.clone()).unwrap();
    let created = fake
        .client()
        .create_issue(&NewIssue::new("ENG", "Task", "Outage").description(doc))
        .await
        .unwrap();
    assert_eq!(created.key, "ENG-8");
    assert_eq!(
        fake.bodies_to(Method::POST, "/rest/api/3/issue")[0]["fields"]["description"],
        raw
    );
}

#[tokio::test]
async fn field_errors_reach_the_model_as_invalid_arguments() {
    let fake = Fake::start().await;
    // A plain-string description (REST v2 style) and an empty summary: both are field errors.
    let issue = NewIssue::new("ENG", "Task", "").field("description", json!("plain text"));
    let error = fake.client().create_issue(&issue).await.unwrap_err();
    let JiraError::BadRequest { errors } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(errors.errors["description"], NOT_ADF);
    assert_eq!(
        errors.errors["summary"],
        "You must specify a summary of the issue."
    );
    assert_eq!(
        ToolError::from(error),
        ToolError::InvalidArguments(format!(
            "Jira rejected the request (HTTP 400): description: {NOT_ADF}; summary: You must specify a summary of \
             the issue."
        ))
    );

    // Through the tool: an unknown project.
    let registry = registry(&fake);
    let error = call(
        &registry,
        "jira_create_issue",
        json!({"project_key": "NOPE", "summary": "Hi"}),
    )
    .await;
    assert_eq!(
        error,
        Err(ToolError::InvalidArguments(
            "Jira rejected the request (HTTP 400): project: valid project is required".into()
        ))
    );
}

#[tokio::test]
async fn create_issue_tool_defaults_the_type_and_returns_the_browse_url() {
    let fake = Fake::start().await;
    let registry = registry(&fake);
    let out = call(
        &registry,
        "jira_create_issue",
        json!({"project_key": "ENG", "summary": "Rotate keys", "description": "Before Friday.\n\nThanks"}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"key": "ENG-8", "id": "10008", "url": format!("{}/browse/ENG-8", fake.base)})
    );
    let sent = &fake.bodies_to(Method::POST, "/rest/api/3/issue")[0]["fields"];
    assert_eq!(sent["issuetype"], json!({"name": "Task"}));
    assert_eq!(
        sent["description"]["content"],
        json!([paragraph("Before Friday."), paragraph("Thanks")])
    );
    // The only label is the one carrying the call's idempotency key.
    assert_eq!(sent["labels"], json!(["agentflow-test-call"]));
}

#[tokio::test]
async fn add_comment_posts_adf_and_unknown_issues_are_terminal() {
    let fake = Fake::start().await;
    let registry = registry(&fake);
    let out = call(
        &registry,
        "jira_add_comment",
        json!({"issue_key": "ENG-1", "body": "Looking into it."}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"issue_key": "ENG-1", "comment_id": "10500", "created": "2026-11-24T12:34:00.000+0000"})
    );
    assert_eq!(
        fake.bodies_to(Method::POST, "/rest/api/3/issue/ENG-1/comment"),
        [json!({
            "body": {"type": "doc", "version": 1, "content": [paragraph("Looking into it.")]},
            "properties": [{"key": "agentflow_effect", "value": {"key": "test-call"}}]
        })]
    );

    let comment = fake
        .client()
        .add_comment("ENG-2", &AdfDoc::from_text("direct"))
        .await
        .unwrap();
    assert_eq!(comment.author.map(|a| a.account_id).as_deref(), Some(ACCOUNT_ID));

    let missing = call(
        &registry,
        "jira_add_comment",
        json!({"issue_key": "ENG-404", "body": "hello"}),
    )
    .await;
    assert_eq!(
        missing,
        Err(ToolError::Terminal(format!(
            "Jira found no such resource, or the account may not see it (HTTP 404): {NOT_FOUND}"
        )))
    );
}

#[tokio::test]
async fn transitions_are_listed_with_their_target_status() {
    let fake = Fake::start().await;
    let transitions = fake.client().transitions("ENG-1").await.unwrap();
    assert_eq!(transitions.len(), 2);
    assert_eq!(transitions[1].to.as_ref().map(|s| s.name.as_str()), Some("Done"));
    assert_eq!(transitions[1].is_available, Some(true));

    let out = call(
        &registry(&fake),
        "jira_list_transitions",
        json!({"issue_key": "ENG-1"}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!([
            {"id": "11", "name": "Start Progress", "to_status": "In Progress"},
            {"id": "21", "name": "Resolve", "to_status": "Done"}
        ])
    );
}

#[tokio::test]
async fn transition_by_name_resolves_the_id() {
    let fake = Fake::start().await;
    let registry = registry(&fake);
    let out = call(
        &registry,
        "jira_transition_issue",
        json!({"issue_key": "ENG-1", "transition": "resolve"}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"issue_key": "ENG-1", "transition": {"id": "21", "name": "Resolve", "to_status": "Done"}})
    );
    let requests: Vec<(Method, String)> = fake.requests().into_iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(
        requests,
        [
            (Method::GET, "/rest/api/3/issue/ENG-1/transitions".to_owned()),
            (Method::POST, "/rest/api/3/issue/ENG-1/transitions".to_owned()),
        ]
    );
    assert_eq!(
        fake.bodies_to(Method::POST, "/rest/api/3/issue/ENG-1/transitions"),
        [json!({"transition": {"id": "21"}})]
    );
    assert_eq!(fake.status_of("ENG-1"), "Done");

    // By target status name, and by id.
    call(
        &registry,
        "jira_transition_issue",
        json!({"issue_key": "ENG-2", "transition": "In Progress"}),
    )
    .await
    .unwrap();
    call(
        &registry,
        "jira_transition_issue",
        json!({"issue_key": "ENG-3", "transition": "11"}),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.bodies_to(Method::POST, "/rest/api/3/issue/ENG-2/transitions"),
        [json!({"transition": {"id": "11"}})]
    );
    assert_eq!(fake.status_of("ENG-2"), "In Progress");
    assert_eq!(fake.status_of("ENG-3"), "In Progress");
}

#[tokio::test]
async fn unknown_transition_names_list_the_available_ones() {
    let fake = Fake::start().await;
    let registry = registry(&fake);
    let error = call(
        &registry,
        "jira_transition_issue",
        json!({"issue_key": "ENG-1", "transition": "Close"}),
    )
    .await;
    assert_eq!(
        error,
        Err(ToolError::InvalidArguments(
            "no transition \"Close\" is available for ENG-1; available: \"Start Progress\" (id 11, to \"In \
             Progress\"), \"Resolve\" (id 21, to \"Done\")"
                .into()
        ))
    );
    assert!(
        fake.bodies_to(Method::POST, "/rest/api/3/issue/ENG-1/transitions")
            .is_empty()
    );

    // No transitions at all: the permission is missing, which the model cannot fix.
    let locked = call(
        &registry,
        "jira_transition_issue",
        json!({"issue_key": "LOCK-1", "transition": "Done"}),
    )
    .await;
    let Err(ToolError::Terminal(message)) = locked else {
        panic!("{locked:?}")
    };
    assert!(
        message.starts_with("LOCK-1 has no transitions available to this account"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_transition_id_is_a_bad_request() {
    let fake = Fake::start().await;
    let error = fake.client().transition_issue("ENG-1", "99").await.unwrap_err();
    assert_eq!(
        error,
        JiraError::BadRequest {
            errors: ErrorCollection {
                error_messages: vec!["Transition id '99' is not valid for this issue.".into()],
                errors: Default::default(),
            }
        }
    );
    assert_eq!(
        ToolError::from(error),
        ToolError::InvalidArguments(
            "Jira rejected the request (HTTP 400): Transition id '99' is not valid for this issue.".into()
        )
    );
    // A valid id: 204 with an empty body is a success.
    fake.client().transition_issue("ENG-1", "11").await.unwrap();
    assert_eq!(fake.status_of("ENG-1"), "In Progress");
}

#[tokio::test]
async fn search_without_fields_returns_ids_only() {
    let fake = Fake::start().await;
    let page = fake
        .client()
        .search_jql(&SearchRequest::new("project = ENG").max_results(2))
        .await
        .unwrap();
    assert_eq!(
        page.issues.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["10001", "10002"]
    );
    assert!(page.issues.iter().all(|i| i.key.is_none() && i.fields.is_empty()));
    assert!(!page.is_last);
    assert_eq!(page.next_page_token.as_deref(), Some("tok-2"));
    assert_eq!(
        fake.bodies_to(Method::POST, "/rest/api/3/search/jql"),
        [json!({"jql": "project = ENG", "maxResults": 2})]
    );
}

#[tokio::test]
async fn search_all_follows_tokens_until_is_last() {
    let fake = Fake::start().await;
    let request = SearchRequest::new("project = ENG ORDER BY key").fields(["summary"]);
    let all = fake.client().search_all(request, 100).await.unwrap();
    let keys: Vec<_> = all.issues.iter().filter_map(|i| i.key.as_deref()).collect();
    assert_eq!(
        keys,
        ["ENG-1", "ENG-2", "ENG-3", "ENG-4", "ENG-5", "ENG-6", "ENG-7"]
    );
    assert_eq!(
        all.issues[6].fields,
        json!({"summary": "Issue 7"}).as_object().unwrap().clone()
    );
    assert!(all.is_last);
    assert_eq!(all.next_page_token, None);
    let tokens: Vec<Value> = fake
        .bodies_to(Method::POST, "/rest/api/3/search/jql")
        .iter()
        .map(|b| b.get("nextPageToken").cloned().unwrap_or(Value::Null))
        .collect();
    assert_eq!(tokens, [Value::Null, json!("tok-3"), json!("tok-6")]);
}

#[tokio::test]
async fn search_all_stops_at_the_limit() {
    let fake = Fake::start().await;
    let page = fake
        .client()
        .search_all(SearchRequest::new("project = ENG").fields(["summary"]), 4)
        .await
        .unwrap();
    assert_eq!(page.issues.len(), 4);
    assert!(!page.is_last);
    assert_eq!(page.next_page_token.as_deref(), Some("tok-4"));
    let sizes: Vec<Value> = fake
        .bodies_to(Method::POST, "/rest/api/3/search/jql")
        .iter()
        .map(|b| b["maxResults"].clone())
        .collect();
    // The fake's pages are smaller than asked (3), so the second page asks only for the rest.
    assert_eq!(sizes, [json!(4), json!(1)]);
}

#[tokio::test]
async fn search_tool_pages_with_tokens_and_flattens_fields() {
    let fake = Fake::start().await;
    let registry = registry(&fake);
    let first = call(
        &registry,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 5}),
    )
    .await
    .unwrap();
    assert_eq!(first["issues"].as_array().map(Vec::len), Some(5));
    assert_eq!(first["is_last"], false);
    assert_eq!(first["next_page_token"], "tok-5");
    assert_eq!(
        first["issues"][0],
        json!({
            "key": "ENG-1",
            "id": "10001",
            "url": format!("{}/browse/ENG-1", fake.base),
            "fields": {
                "summary": "Issue 1",
                "status": {"id": "10000", "name": "To Do"},
                "issuetype": {"name": "Task", "id": "10002"},
                "assignee": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof"}
            }
        })
    );
    let sent = &fake.bodies_to(Method::POST, "/rest/api/3/search/jql")[0];
    assert_eq!(
        sent["fields"],
        json!([
            "summary",
            "status",
            "assignee",
            "issuetype",
            "priority",
            "updated"
        ])
    );

    let rest = call(
        &registry,
        "jira_search",
        json!({"jql": "project = ENG", "fields": ["description"], "next_page_token": "tok-5"}),
    )
    .await
    .unwrap();
    assert_eq!(rest["is_last"], true);
    assert!(rest.get("next_page_token").is_none());
    assert_eq!(rest["issues"][1]["key"], "ENG-7");
    assert_eq!(
        rest["issues"][1]["fields"]["description"],
        "Description of issue 7.\n\nSecond paragraph."
    );
}

#[tokio::test]
async fn unbounded_jql_is_invalid_arguments() {
    let fake = Fake::start().await;
    let error = call(
        &registry(&fake),
        "jira_search",
        json!({"jql": "order by key desc"}),
    )
    .await;
    assert_eq!(
        error,
        Err(ToolError::InvalidArguments(
            "Jira rejected the request (HTTP 400): Unbounded JQL queries are not allowed here. Please add a \
             search restriction to your query."
                .into()
        ))
    );
}

#[tokio::test]
async fn the_removed_search_endpoint_is_never_used() {
    let fake = Fake::start().await;
    // The fake is faithful: the old endpoint is gone.
    let gone = reqwest::Client::new()
        .post(format!("{}/rest/api/3/search", fake.base))
        .basic_auth(EMAIL, Some(TOKEN))
        .json(&json!({"jql": "project = ENG"}))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 410);

    let client = fake.client();
    client
        .search_jql(&SearchRequest::new("project = ENG"))
        .await
        .unwrap();
    client
        .search_all(SearchRequest::new("project = ENG"), 10)
        .await
        .unwrap();
    call(&registry(&fake), "jira_search", json!({"jql": "project = ENG"}))
        .await
        .unwrap();
    let paths: Vec<String> = fake.requests().into_iter().skip(1).map(|r| r.path).collect();
    assert!(paths.len() >= 3);
    assert!(paths.iter().all(|p| p == "/rest/api/3/search/jql"), "{paths:?}");
}

#[tokio::test]
async fn get_issue_selects_fields_and_the_tool_flattens_adf() {
    let fake = Fake::start().await;
    let issue = fake
        .client()
        .get_issue("ENG-1", &["summary", "status"])
        .await
        .unwrap();
    assert_eq!(issue.key.as_deref(), Some("ENG-1"));
    // Key order depends on serde_json's `preserve_order`, which another crate may switch on.
    let mut keys: Vec<&String> = issue.fields.keys().collect();
    keys.sort();
    assert_eq!(keys, ["status", "summary"]);
    assert_eq!(
        fake.requests()[0].query.as_deref(),
        Some("fields=summary%2Cstatus")
    );

    let out = call(&registry(&fake), "jira_get_issue", json!({"issue_key": "ENG-2"}))
        .await
        .unwrap();
    assert_eq!(out["url"], format!("{}/browse/ENG-2", fake.base));
    assert_eq!(
        out["fields"]["description"],
        "Description of issue 2.\n\nSecond paragraph."
    );
    let query = fake.requests()[1].query.clone().unwrap_or_default();
    assert!(query.starts_with("fields=summary%2Cstatus%2Cassignee"), "{query}");
}

#[tokio::test]
async fn myself_returns_the_account_id() {
    let fake = Fake::start().await;
    let me = fake.client().myself().await.unwrap();
    assert_eq!(me.account_id, ACCOUNT_ID);
    assert_eq!(me.email_address.as_deref(), Some(EMAIL));
}

#[tokio::test]
async fn rate_limits_are_retryable_after_the_given_delay() {
    let fake = Fake::start().await;
    let error = fake.client().get_issue("RATE-1", &[]).await.unwrap_err();
    let JiraError::RateLimited {
        retry_after,
        reason,
        errors,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(7)));
    assert_eq!(reason.as_deref(), Some("jira-burst-based"));
    assert_eq!(errors.error_messages, ["Rate limit exceeded."]);
    assert!(error.is_retryable());

    let through_tool = call(&registry(&fake), "jira_get_issue", json!({"issue_key": "RATE-1"})).await;
    assert_eq!(
        through_tool,
        Err(ToolError::Retryable {
            message: "Jira rate limit hit (HTTP 429, jira-burst-based): Rate limit exceeded.".into(),
            retry_after: Some(Duration::from_secs(7)),
        })
    );
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fake = Fake::start().await;
    let error = fake.client().get_issue("BOOM-1", &[]).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    // Retryable, and ambiguous: Jira may have acted before failing.
    assert_eq!(
        ToolError::from(error),
        ToolError::Ambiguous {
            message: "Jira answered HTTP 500 Internal Server Error: Internal server error".into(),
            retry_after: None,
        }
    );
}

#[tokio::test]
async fn malformed_json_is_terminal() {
    let fake = Fake::start().await;
    let error = fake.client().get_issue("JUNK-1", &[]).await.unwrap_err();
    let JiraError::Malformed(detail) = &error else {
        panic!("{error:?}")
    };
    assert!(detail.starts_with("issue: "), "{detail}");
    let ToolError::Terminal(message) = ToolError::from(error) else {
        panic!()
    };
    assert!(
        message.starts_with("Jira sent a malformed response: issue: "),
        "{message}"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let fake = Fake::start().await;
    let client = JiraClient::new(fake.config().with_max_response_bytes(16 * 1024)).unwrap();
    let error = client.get_issue("HUGE-1", &[]).await.unwrap_err();
    assert_eq!(
        error,
        JiraError::Transport(ToolError::terminal(
            "Jira response is larger than the 16384-byte limit"
        ))
    );
    // The default limit takes it.
    assert_eq!(
        fake.client()
            .get_issue("HUGE-1", &[])
            .await
            .unwrap()
            .key
            .as_deref(),
        Some("HUGE-1")
    );
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retryable() {
    let fake = Fake::start().await;
    let client = JiraClient::new(fake.config().with_timeout(Duration::from_millis(200))).unwrap();
    let error = client.get_issue("SLOW-1", &[]).await.unwrap_err();
    let JiraError::Transport(inner) = &error else {
        panic!("{error:?}")
    };
    assert!(inner.is_retryable(), "{inner:?}");
    assert!(ToolError::from(error).is_retryable());

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let client = JiraClient::new(JiraConfig::new(&format!("http://{addr}"), EMAIL, TOKEN).unwrap()).unwrap();
    let refused = ToolError::from(client.myself().await.unwrap_err());
    assert!(refused.is_retryable(), "{refused:?}");
}

#[tokio::test]
async fn cancellation_stops_a_call() {
    let fake = Fake::start().await;
    let registry = registry(&fake);
    let ctx = ctx();
    ctx.cancellation.cancel();
    let tool = registry.get("jira_get_issue").unwrap();
    let result = tool.call_json(json!({"issue_key": "SLOW-1"}), ctx).await;
    assert_eq!(result, Err(ToolError::terminal("the Jira call was cancelled")));
}

#[tokio::test]
async fn bad_credentials_and_missing_permissions_are_terminal() {
    let fake = Fake::start().await;
    let wrong = JiraClient::new(JiraConfig::new(&fake.base, EMAIL, "not-the-token").unwrap()).unwrap();
    let error = wrong.myself().await.unwrap_err();
    assert!(matches!(error, JiraError::Unauthorized { .. }), "{error:?}");
    assert_eq!(
        ToolError::from(error),
        ToolError::Terminal(
            "Jira rejected the credentials (HTTP 401): check the account email and API token: You are not \
             authenticated. Authentication required to perform this operation."
                .into()
        )
    );

    let forbidden = call(
        &registry(&fake),
        "jira_get_issue",
        json!({"issue_key": "SECRET-1"}),
    )
    .await;
    assert_eq!(
        forbidden,
        Err(ToolError::Terminal(
            "Jira denied the operation (HTTP 403): the account lacks the permission for it: You do not have \
             permission to view this issue."
                .into()
        ))
    );
}

#[tokio::test]
async fn the_token_never_appears_in_debug_output() {
    let fake = Fake::start().await;
    let client = fake.client();
    let shown = format!("{client:?} {:?}", client.config());
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("Secret(***)"), "{shown}");
    assert!(shown.contains(EMAIL), "{shown}");
    // Nor in errors, which only carry the URL.
    let error = JiraClient::new(fake.config().with_timeout(Duration::from_millis(100)))
        .unwrap()
        .get_issue("SLOW-1", &[])
        .await
        .unwrap_err();
    assert!(!format!("{error:?} {error}").contains(TOKEN));
}

#[tokio::test]
async fn the_registry_reports_invalid_arguments() {
    let fake = Fake::start().await;
    let registry = registry(&fake);
    assert_eq!(registry.len(), 6);
    let spec = registry.get("jira_transition_issue").unwrap().spec();
    assert!(
        spec.parameters["properties"]["transition"]["description"]
            .as_str()
            .unwrap()
            .contains("name")
    );

    // Missing a required field: serde's message.
    let missing = call(&registry, "jira_create_issue", json!({"project_key": "ENG"})).await;
    let Err(ToolError::InvalidArguments(message)) = missing else {
        panic!("{missing:?}")
    };
    assert!(message.contains("summary"), "{message}");
    // Well-typed but unusable: the tools' own checks.
    let multiline = call(
        &registry,
        "jira_create_issue",
        json!({"project_key": "ENG", "summary": "a\nb"}),
    )
    .await;
    assert_eq!(
        multiline,
        Err(ToolError::InvalidArguments(
            "summary must be a single line; put details in the description".into()
        ))
    );
    let bad_key = call(&registry, "jira_get_issue", json!({"issue_key": "ENG 1"})).await;
    assert_eq!(
        bad_key,
        Err(ToolError::InvalidArguments(
            "\"ENG 1\" is not a Jira issue key or id (expected something like ENG-123 or 10042)".into()
        ))
    );
    let empty_comment = call(
        &registry,
        "jira_add_comment",
        json!({"issue_key": "ENG-1", "body": " "}),
    )
    .await;
    assert!(matches!(empty_comment, Err(ToolError::InvalidArguments(_))));
    // None of these reached Jira.
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[test]
fn the_tool_schemas_describe_their_arguments() {
    let client = JiraClient::new(JiraConfig::new("https://x.atlassian.net", EMAIL, TOKEN).unwrap()).unwrap();
    let tools: Vec<std::sync::Arc<dyn DynTool>> = jira::tools(client);
    for tool in &tools {
        let properties = tool.parameters()["properties"].as_object().unwrap();
        for (name, property) in properties {
            let described = property
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.is_empty());
            assert!(described, "{}.{name} has no description", tool.name());
        }
        assert!(!tool.description().is_empty());
    }
}
