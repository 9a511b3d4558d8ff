//! Request and response types of the Slack Web API methods the client speaks.
//!
//! Responses keep the documented fields typed and everything else in `extra`, so new fields
//! Slack adds never break deserialization.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The setters of the range fields both paged requests have (`cursor`, `limit`, `oldest`,
/// `latest`, `inclusive`), and the query they make.
macro_rules! range_setters {
    () => {
        /// Continues from `cursor`.
        pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
            self.cursor = Some(cursor.into());
            self
        }

        /// Sets the page size.
        pub fn limit(mut self, limit: u32) -> Self {
            self.limit = Some(limit);
            self
        }

        /// Only messages after `ts`.
        pub fn oldest(mut self, ts: impl Into<String>) -> Self {
            self.oldest = Some(ts.into());
            self
        }

        /// Only messages before `ts`.
        pub fn latest(mut self, ts: impl Into<String>) -> Self {
            self.latest = Some(ts.into());
            self
        }

        /// Include messages exactly at `oldest`/`latest`.
        pub fn inclusive(mut self, inclusive: bool) -> Self {
            self.inclusive = Some(inclusive);
            self
        }

        /// Return each message's metadata too.
        pub fn include_all_metadata(mut self, include: bool) -> Self {
            self.include_all_metadata = Some(include);
            self
        }

        fn range_query(&self, query: &mut Vec<(&'static str, String)>) {
            if let Some(limit) = self.limit {
                query.push(("limit", limit.to_string()));
            }
            if let Some(oldest) = &self.oldest {
                query.push(("oldest", oldest.clone()));
            }
            if let Some(latest) = &self.latest {
                query.push(("latest", latest.clone()));
            }
            if let Some(inclusive) = self.inclusive {
                query.push(("inclusive", inclusive.to_string()));
            }
            if let Some(include) = self.include_all_metadata {
                query.push(("include_all_metadata", include.to_string()));
            }
        }
    };
}

/// The arguments of `chat.postMessage`.
///
/// ```
/// use agentflow_tools::slack::PostMessage;
///
/// let post = PostMessage::new("C0123456789", "Ticket ENG-42 created")
///     .in_thread("1515449522.000016")
///     .with_blocks(serde_json::json!([
///         {"type": "section", "text": {"type": "mrkdwn", "text": "Ticket *ENG-42* created"}}
///     ]));
/// assert_eq!(post.thread_ts.as_deref(), Some("1515449522.000016"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PostMessage {
    /// A conversation ID (`C…`, `G…`, `D…`) or, for public channels, a name.
    pub channel: String,
    /// The text; with `blocks` it is the notification fallback. Not sent when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Reply in the thread of this parent message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// Block Kit blocks (a JSON array).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
    /// With `thread_ts`: also show the reply in the channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_broadcast: Option<bool>,
    /// Whether Slack unfurls links in the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfurl_links: Option<bool>,
    /// Message metadata (`{"event_type": ..., "event_payload": {...}}`): invisible to
    /// readers, returned by the read methods with `include_all_metadata`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl PostMessage {
    /// A plain text message to `channel`.
    pub fn new(channel: impl Into<String>, text: impl Into<String>) -> Self {
        PostMessage {
            channel: channel.into(),
            text: text.into(),
            thread_ts: None,
            blocks: None,
            reply_broadcast: None,
            unfurl_links: None,
            metadata: None,
        }
    }

    /// Posts as a reply in the thread of the message `thread_ts`.
    pub fn in_thread(mut self, thread_ts: impl Into<String>) -> Self {
        self.thread_ts = Some(thread_ts.into());
        self
    }

    /// Adds Block Kit `blocks` (the text becomes the fallback).
    pub fn with_blocks(mut self, blocks: Value) -> Self {
        self.blocks = Some(blocks);
        self
    }

    /// With a thread: also show the reply in the channel.
    pub fn broadcast(mut self, broadcast: bool) -> Self {
        self.reply_broadcast = Some(broadcast);
        self
    }

    /// Whether Slack unfurls links in the text.
    pub fn unfurl_links(mut self, unfurl: bool) -> Self {
        self.unfurl_links = Some(unfurl);
        self
    }

    /// Attaches message metadata: an `event_type` (letters, digits, `_`) and its
    /// `event_payload` object.
    pub fn with_metadata(mut self, event_type: impl Into<String>, event_payload: Value) -> Self {
        self.metadata = Some(serde_json::json!({
            "event_type": event_type.into(),
            "event_payload": event_payload,
        }));
        self
    }
}

/// The arguments of `chat.update`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct UpdateMessage {
    /// The conversation ID holding the message.
    pub channel: String,
    /// The `ts` of the message to replace.
    pub ts: String,
    /// The new text. Not sent when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// The new Block Kit blocks (a JSON array); `[]` removes them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
}

impl UpdateMessage {
    /// Replaces the text of the message `ts` in `channel`.
    pub fn new(channel: impl Into<String>, ts: impl Into<String>, text: impl Into<String>) -> Self {
        UpdateMessage {
            channel: channel.into(),
            ts: ts.into(),
            text: text.into(),
            blocks: None,
        }
    }

    /// Replaces the blocks too.
    pub fn with_blocks(mut self, blocks: Value) -> Self {
        self.blocks = Some(blocks);
        self
    }
}

/// The arguments of `conversations.history` (newest messages first).
///
/// ```
/// use agentflow_tools::slack::HistoryRequest;
///
/// let request = HistoryRequest::new("C0123456789").limit(50).oldest("1512085950.000216");
/// assert_eq!(request.limit, Some(50));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct HistoryRequest {
    /// The conversation ID.
    pub channel: String,
    /// Where to continue: a `next_cursor` from a previous page.
    pub cursor: Option<String>,
    /// The page size (Slack's default is 100, its maximum 999).
    pub limit: Option<u32>,
    /// Only messages after this ts.
    pub oldest: Option<String>,
    /// Only messages before this ts.
    pub latest: Option<String>,
    /// Include messages exactly at `oldest`/`latest`.
    pub inclusive: Option<bool>,
    /// Return each message's metadata (`include_all_metadata`).
    pub include_all_metadata: Option<bool>,
}

impl HistoryRequest {
    /// The latest messages of `channel`.
    pub fn new(channel: impl Into<String>) -> Self {
        HistoryRequest {
            channel: channel.into(),
            ..Self::default()
        }
    }

    range_setters!();
}

impl Paged for HistoryRequest {
    const METHOD: &'static str = "conversations.history";
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = vec![("channel", self.channel.clone())];
        self.range_query(&mut query);
        query
    }
    fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
    fn limit(&self) -> Option<u32> {
        self.limit
    }
}

/// The arguments of `conversations.replies` (the parent first, then replies oldest first).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RepliesRequest {
    /// The conversation ID.
    pub channel: String,
    /// The `ts` of the thread's parent message.
    pub ts: String,
    /// Where to continue: a `next_cursor` from a previous page.
    pub cursor: Option<String>,
    /// The page size.
    pub limit: Option<u32>,
    /// Only messages after this ts.
    pub oldest: Option<String>,
    /// Only messages before this ts.
    pub latest: Option<String>,
    /// Include messages exactly at `oldest`/`latest`.
    pub inclusive: Option<bool>,
    /// Return each message's metadata (`include_all_metadata`).
    pub include_all_metadata: Option<bool>,
}

impl RepliesRequest {
    /// The thread of the message `ts` in `channel`.
    pub fn new(channel: impl Into<String>, ts: impl Into<String>) -> Self {
        RepliesRequest {
            channel: channel.into(),
            ts: ts.into(),
            ..Self::default()
        }
    }

    range_setters!();
}

impl Paged for RepliesRequest {
    const METHOD: &'static str = "conversations.replies";
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = vec![("channel", self.channel.clone()), ("ts", self.ts.clone())];
        self.range_query(&mut query);
        query
    }
    fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
    fn limit(&self) -> Option<u32> {
        self.limit
    }
}

/// A paged read of messages (`conversations.history`, `conversations.replies`): its method, its
/// query without the cursor, the cursor to start from and the page size.
pub(crate) trait Paged {
    const METHOD: &'static str;
    fn query(&self) -> Vec<(&'static str, String)>;
    fn cursor(&self) -> Option<&str>;
    fn limit(&self) -> Option<u32>;
}

/// What `auth.test` says about the token: who the bot is (use `user_id` and `bot_id` to ignore
/// the bot's own messages in events).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthTest {
    /// The workspace URL.
    #[serde(default)]
    pub url: Option<String>,
    /// The workspace name.
    #[serde(default)]
    pub team: Option<String>,
    /// The bot user's name.
    #[serde(default)]
    pub user: Option<String>,
    /// The workspace ID.
    pub team_id: String,
    /// The bot's user ID (`U…`/`W…`).
    pub user_id: String,
    /// The bot ID (`B…`), for bot tokens.
    #[serde(default)]
    pub bot_id: Option<String>,
    /// Undocumented or newer fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A message as the history, replies and post methods return it.
///
/// ```
/// use agentflow_tools::slack::SlackMessage;
///
/// let message: SlackMessage = serde_json::from_value(serde_json::json!({
///     "ts": "1.2", "text": "hi",
///     "metadata": {"event_type": "agentflow_effect", "event_payload": {"key": "k1"}}
/// }))?;
/// assert_eq!(message.metadata_payload("agentflow_effect").unwrap()["key"], "k1");
/// assert!(message.metadata_payload("other").is_none());
/// # Ok::<_, serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlackMessage {
    /// Its timestamp, which is also its ID in the channel.
    pub ts: String,
    /// The author's user ID (absent for some bot and system messages).
    #[serde(default)]
    pub user: Option<String>,
    /// The bot ID, when a bot posted it.
    #[serde(default)]
    pub bot_id: Option<String>,
    /// The text (empty for some block-only or file messages).
    #[serde(default)]
    pub text: String,
    /// Set on messages in a thread (equal to `ts` on the parent).
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// On a thread parent: how many replies it has.
    #[serde(default)]
    pub reply_count: Option<u64>,
    /// A subtype such as `bot_message`, `channel_join` (absent for plain messages).
    #[serde(default)]
    pub subtype: Option<String>,
    /// The message's metadata (`event_type`, `event_payload`), returned only when the read
    /// asked for `include_all_metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Blocks, attachments, files, reactions and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SlackMessage {
    /// The `event_payload` of the message's metadata when its `event_type` is `event_type`.
    pub fn metadata_payload(&self, event_type: &str) -> Option<&Value> {
        let metadata = self.metadata.as_ref()?;
        (metadata.get("event_type")?.as_str()? == event_type).then(|| metadata.get("event_payload"))?
    }
}

/// What `chat.postMessage` returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PostedMessage {
    /// The conversation ID it was posted to.
    pub channel: String,
    /// Its timestamp: pass it as `thread_ts` to reply, or to `chat.update`.
    pub ts: String,
    /// The message as Slack stored it.
    #[serde(default)]
    pub message: Option<SlackMessage>,
}

/// What `chat.update` returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdatedMessage {
    /// The conversation ID.
    pub channel: String,
    /// The updated message's timestamp.
    pub ts: String,
    /// The new text.
    #[serde(default)]
    pub text: Option<String>,
}

/// One page of messages, or several pages collected by the `*_all` helpers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessagePage {
    /// The messages, in Slack's order.
    pub messages: Vec<SlackMessage>,
    /// Where to continue; `None` when there is nothing more.
    pub next_cursor: Option<String>,
}

/// A workspace member, from `users.info`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// The user ID.
    pub id: String,
    /// The workspace ID.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The handle.
    #[serde(default)]
    pub name: Option<String>,
    /// The full name.
    #[serde(default)]
    pub real_name: Option<String>,
    /// Deactivated.
    #[serde(default)]
    pub deleted: bool,
    /// The time zone, e.g. `America/Los_Angeles`.
    #[serde(default)]
    pub tz: Option<String>,
    /// The time zone's offset from UTC in seconds.
    #[serde(default)]
    pub tz_offset: Option<i64>,
    /// A workspace admin.
    #[serde(default)]
    pub is_admin: bool,
    /// A bot user.
    #[serde(default)]
    pub is_bot: bool,
    /// The profile.
    #[serde(default)]
    pub profile: UserProfile,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The profile part of a [`User`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserProfile {
    /// The full name.
    #[serde(default)]
    pub real_name: Option<String>,
    /// The display name (may be empty).
    #[serde(default)]
    pub display_name: Option<String>,
    /// The job title.
    #[serde(default)]
    pub title: Option<String>,
    /// The email address (only with the `users:read.email` scope).
    #[serde(default)]
    pub email: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
