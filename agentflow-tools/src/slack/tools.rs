//! The Slack tools a model can call: post, update, read a channel, read a thread, look up a
//! user. Arguments are checked before any request; what comes back holds no credential.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::SlackClient;
use super::types::{HistoryRequest, MessagePage, PostMessage, RepliesRequest, SlackMessage, UpdateMessage};
use crate::tool::{DynTool, Idempotency, Tool, ToolContext, ToolError, ToolRegistry, erase};

/// Limits shared by the Slack tools.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlackToolOptions {
    /// How many messages a read returns when the model does not say (20 by default).
    pub default_messages: u32,
    /// The most messages one read may return (100 by default).
    pub max_messages: u32,
    /// Whether the user-info tool shows email addresses (off by default; needs the
    /// `users:read.email` scope anyway).
    pub include_email: bool,
    /// How many of the latest messages of the channel (or thread) the post tool reads when
    /// it looks for an earlier attempt of a post whose outcome is unknown (500 by default).
    pub reconcile_lookback: u32,
}

impl Default for SlackToolOptions {
    fn default() -> Self {
        SlackToolOptions {
            default_messages: 20,
            max_messages: 100,
            include_email: false,
            reconcile_lookback: DEFAULT_RECONCILE_LOOKBACK,
        }
    }
}

impl SlackToolOptions {
    /// Sets how many messages a read returns by default.
    pub fn default_messages(mut self, count: u32) -> Self {
        self.default_messages = count;
        self
    }

    /// Sets the most messages one read may return.
    pub fn max_messages(mut self, count: u32) -> Self {
        self.max_messages = count;
        self
    }

    /// Shows (or hides) email addresses in user info.
    pub fn include_email(mut self, include: bool) -> Self {
        self.include_email = include;
        self
    }

    /// Sets how many recent messages a reconciling post reads.
    pub fn reconcile_lookback(mut self, count: u32) -> Self {
        self.reconcile_lookback = count;
        self
    }
}

/// The default of [`SlackToolOptions::reconcile_lookback`].
const DEFAULT_RECONCILE_LOOKBACK: u32 = 500;

/// The metadata `event_type` a posted message carries its idempotency key under.
pub const EFFECT_EVENT_TYPE: &str = "agentflow_effect";

/// The five Slack tools with default options, erased, ready for a registry or a model.
///
/// ```no_run
/// use agentflow_tools::ToolRegistry;
/// use agentflow_tools::slack::{self, SlackClient};
///
/// # fn demo() -> Result<(), agentflow_tools::slack::SlackError> {
/// let client = SlackClient::new(std::env::var("SLACK_BOT_TOKEN").unwrap_or_default())?;
/// let mut registry = ToolRegistry::new();
/// slack::register(&mut registry, client);
/// assert!(registry.get("slack_post_message").is_some());
/// # Ok(())
/// # }
/// ```
pub fn tools(client: SlackClient) -> Vec<Arc<dyn DynTool>> {
    tools_with_options(client, SlackToolOptions::default())
}

/// The five Slack tools with `options`.
pub fn tools_with_options(client: SlackClient, options: SlackToolOptions) -> Vec<Arc<dyn DynTool>> {
    vec![
        erase(PostMessageTool::new(client.clone()).reconcile_lookback(options.reconcile_lookback)),
        erase(UpdateMessageTool::new(client.clone())),
        erase(ChannelHistoryTool::new(client.clone(), options.clone())),
        erase(ThreadRepliesTool::new(client.clone(), options.clone())),
        erase(UserInfoTool::new(client, options)),
    ]
}

/// Adds the five Slack tools (default options) to `registry`.
pub fn register(registry: &mut ToolRegistry, client: SlackClient) -> &mut ToolRegistry {
    for tool in tools(client) {
        registry.add_dyn(tool);
    }
    registry
}

fn check_channel(channel: &str) -> Result<(), ToolError> {
    if channel.trim().is_empty() || channel.chars().any(char::is_whitespace) {
        return Err(ToolError::InvalidArguments(format!(
            "`channel` must be a channel ID such as C0123456789, got {channel:?}"
        )));
    }
    Ok(())
}

/// Slack timestamps are `<seconds>.<microseconds>`; catching a wrong one here gives the model
/// a clearer message than Slack's `thread_not_found`.
fn check_ts(field: &str, ts: &str) -> Result<(), ToolError> {
    let valid = ts.split_once('.').is_some_and(|(secs, micros)| {
        !secs.is_empty()
            && !micros.is_empty()
            && secs.bytes().all(|b| b.is_ascii_digit())
            && micros.bytes().all(|b| b.is_ascii_digit())
    });
    if valid {
        Ok(())
    } else {
        Err(ToolError::InvalidArguments(format!(
            "`{field}` must be a Slack message timestamp such as 1515449522.000016, got {ts:?}"
        )))
    }
}

fn blocks_value(blocks: Option<Vec<Value>>) -> Option<Value> {
    blocks.filter(|b| !b.is_empty()).map(Value::Array)
}

fn check_limit(limit: Option<u32>, options: &SlackToolOptions) -> Result<usize, ToolError> {
    let limit = limit.unwrap_or(options.default_messages.min(options.max_messages));
    if limit == 0 || limit > options.max_messages {
        return Err(ToolError::InvalidArguments(format!(
            "`limit` must be between 1 and {}, got {limit}",
            options.max_messages
        )));
    }
    Ok(limit as usize)
}

/// The arguments of `slack_post_message`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessageArgs {
    /// The channel ID to post in, e.g. `C0123456789` (a public channel's name such as `general`
    /// also works).
    pub channel: String,
    /// The message text in Slack mrkdwn (`*bold*`, `_italic_`, `<https://example.com|link>`,
    /// `<@U0123456789>` to mention a user). With `blocks`, it is the notification fallback.
    pub text: String,
    /// To reply in a thread: the `ts` of the thread's parent message, e.g. `1515449522.000016`.
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// Optional Block Kit blocks: a JSON array of block objects.
    #[serde(default)]
    pub blocks: Option<Vec<Value>>,
}

/// Where a message was posted or updated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageRef {
    /// The channel ID.
    pub channel: String,
    /// The message's timestamp: its ID, and the `thread_ts` for replies to it.
    pub ts: String,
}

/// `slack_post_message`: posts a message to a channel or thread (scope `chat:write`; the
/// history scopes of the conversation type to reconcile).
///
/// Posting is not idempotent, so the tool is [reconcilable](Idempotency::Reconcilable): each
/// message carries the call's idempotency key in its metadata (`event_type`
/// [`EFFECT_EVENT_TYPE`], `event_payload` `{"key": ...}`), and [`Tool::reconcile`] looks for it
/// among the latest messages of the channel (`conversations.history`) or thread
/// (`conversations.replies`) read with `include_all_metadata`, so that a post whose outcome is
/// unknown is found instead of posted twice.
#[derive(Clone, Debug)]
pub struct PostMessageTool {
    client: SlackClient,
    lookback: u32,
}

impl PostMessageTool {
    /// The tool over `client`.
    pub fn new(client: SlackClient) -> Self {
        PostMessageTool {
            client,
            lookback: DEFAULT_RECONCILE_LOOKBACK,
        }
    }

    /// Sets how many recent messages [`Tool::reconcile`] reads (500 by default).
    pub fn reconcile_lookback(mut self, count: u32) -> Self {
        self.lookback = count;
        self
    }

    /// The post the arguments describe, checked.
    fn post(args: PostMessageArgs) -> Result<PostMessage, ToolError> {
        check_channel(&args.channel)?;
        let blocks = blocks_value(args.blocks);
        if args.text.trim().is_empty() && blocks.is_none() {
            return Err(ToolError::InvalidArguments("`text` must not be empty".into()));
        }
        let mut post = PostMessage::new(args.channel, args.text);
        if let Some(ts) = args.thread_ts {
            check_ts("thread_ts", &ts)?;
            post = post.in_thread(ts);
        }
        if let Some(blocks) = blocks {
            post = post.with_blocks(blocks);
        }
        Ok(post)
    }
}

/// True when `message` carries the idempotency `key` in its metadata.
fn carries_key(message: &SlackMessage, key: &str) -> bool {
    message
        .metadata_payload(EFFECT_EVENT_TYPE)
        .and_then(|payload| payload.get("key"))
        .and_then(Value::as_str)
        == Some(key)
}

impl Tool for PostMessageTool {
    type Args = PostMessageArgs;
    type Output = MessageRef;

    fn name(&self) -> &str {
        "slack_post_message"
    }

    fn description(&self) -> &str {
        "Posts a message to a Slack channel, or as a reply in a thread when `thread_ts` is given. \
         Returns the channel and the new message's `ts`."
    }

    fn backend(&self) -> &str {
        "slack"
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::Reconcilable
    }

    async fn call(&self, args: PostMessageArgs, ctx: ToolContext) -> Result<MessageRef, ToolError> {
        let post = Self::post(args)?.with_metadata(
            EFFECT_EVENT_TYPE,
            serde_json::json!({ "key": ctx.idempotency_key }),
        );
        let posted = self.client.chat_post_message(&post).await?;
        Ok(MessageRef {
            channel: posted.channel,
            ts: posted.ts,
        })
    }

    async fn reconcile(
        &self,
        args: PostMessageArgs,
        ctx: ToolContext,
    ) -> Result<Option<MessageRef>, ToolError> {
        let post = Self::post(args)?;
        let lookback = self.lookback.max(1) as usize;
        // Newest first for a channel; a thread reads parent first, then replies oldest first.
        let page = match &post.thread_ts {
            Some(thread_ts) => {
                let request = RepliesRequest::new(&post.channel, thread_ts).include_all_metadata(true);
                self.client.conversations_replies_all(&request, lookback).await?
            }
            None => {
                let request = HistoryRequest::new(&post.channel).include_all_metadata(true);
                self.client.conversations_history_all(&request, lookback).await?
            }
        };
        let found = page
            .messages
            .into_iter()
            .find(|message| carries_key(message, &ctx.idempotency_key));
        Ok(found.map(|message| MessageRef {
            channel: post.channel,
            ts: message.ts,
        }))
    }
}

/// The arguments of `slack_update_message`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMessageArgs {
    /// The channel ID holding the message, e.g. `C0123456789`.
    pub channel: String,
    /// The `ts` of the message to change (only the bot's own messages can be changed).
    pub ts: String,
    /// The new text in Slack mrkdwn; it replaces the old text entirely.
    pub text: String,
    /// Optional new Block Kit blocks: a JSON array of block objects.
    #[serde(default)]
    pub blocks: Option<Vec<Value>>,
}

/// `slack_update_message`: rewrites one of the bot's messages (scope `chat:write`).
#[derive(Clone, Debug)]
pub struct UpdateMessageTool {
    client: SlackClient,
}

impl UpdateMessageTool {
    /// The tool over `client`.
    pub fn new(client: SlackClient) -> Self {
        UpdateMessageTool { client }
    }
}

impl Tool for UpdateMessageTool {
    type Args = UpdateMessageArgs;
    type Output = MessageRef;

    fn name(&self) -> &str {
        "slack_update_message"
    }

    fn description(&self) -> &str {
        "Replaces the text of a message the bot posted earlier in Slack, e.g. to mark a request \
         as approved."
    }

    fn backend(&self) -> &str {
        "slack"
    }

    async fn call(&self, args: UpdateMessageArgs, _ctx: ToolContext) -> Result<MessageRef, ToolError> {
        check_channel(&args.channel)?;
        check_ts("ts", &args.ts)?;
        let blocks = blocks_value(args.blocks);
        if args.text.trim().is_empty() && blocks.is_none() {
            return Err(ToolError::InvalidArguments("`text` must not be empty".into()));
        }
        let mut update = UpdateMessage::new(args.channel, args.ts, args.text);
        if let Some(blocks) = blocks {
            update = update.with_blocks(blocks);
        }
        let updated = self.client.chat_update(&update).await?;
        Ok(MessageRef {
            channel: updated.channel,
            ts: updated.ts,
        })
    }
}

/// A message as the read tools show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageSummary {
    /// Its timestamp (its ID in the channel).
    pub ts: String,
    /// The author's user ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Set when a bot posted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// The text.
    pub text: String,
    /// The thread it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// On a thread parent: the number of replies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_count: Option<u64>,
    /// A subtype such as `channel_join`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
}

impl From<SlackMessage> for MessageSummary {
    fn from(message: SlackMessage) -> Self {
        MessageSummary {
            ts: message.ts,
            user: message.user,
            bot_id: message.bot_id,
            text: message.text,
            thread_ts: message.thread_ts,
            reply_count: message.reply_count,
            subtype: message.subtype,
        }
    }
}

/// What the read tools return.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Messages {
    /// The messages.
    pub messages: Vec<MessageSummary>,
    /// Pass it as `cursor` to read further; absent when there is nothing more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl From<MessagePage> for Messages {
    fn from(page: MessagePage) -> Self {
        Messages {
            messages: page.messages.into_iter().map(MessageSummary::from).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

/// The arguments of `slack_channel_history`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelHistoryArgs {
    /// The channel ID to read, e.g. `C0123456789`.
    pub channel: String,
    /// How many messages to return, newest first (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only messages after this timestamp, e.g. `1512085950.000216`.
    #[serde(default)]
    pub oldest: Option<String>,
    /// Only messages before this timestamp.
    #[serde(default)]
    pub latest: Option<String>,
    /// To read further back: the `next_cursor` a previous call returned.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `slack_channel_history`: the latest messages of a channel (scopes `channels:history`,
/// `groups:history`, `im:history` or `mpim:history` by conversation type).
#[derive(Clone, Debug)]
pub struct ChannelHistoryTool {
    client: SlackClient,
    options: SlackToolOptions,
}

impl ChannelHistoryTool {
    /// The tool over `client`.
    pub fn new(client: SlackClient, options: SlackToolOptions) -> Self {
        ChannelHistoryTool { client, options }
    }
}

impl Tool for ChannelHistoryTool {
    type Args = ChannelHistoryArgs;
    type Output = Messages;

    fn name(&self) -> &str {
        "slack_channel_history"
    }

    fn description(&self) -> &str {
        "Reads the latest messages of a Slack channel, newest first. Messages with a \
         `reply_count` start threads: read those with slack_thread_replies."
    }

    fn backend(&self) -> &str {
        "slack"
    }

    async fn call(&self, args: ChannelHistoryArgs, _ctx: ToolContext) -> Result<Messages, ToolError> {
        check_channel(&args.channel)?;
        let limit = check_limit(args.limit, &self.options)?;
        let mut request = HistoryRequest::new(args.channel);
        if let Some(oldest) = args.oldest {
            check_ts("oldest", &oldest)?;
            request = request.oldest(oldest);
        }
        if let Some(latest) = args.latest {
            check_ts("latest", &latest)?;
            request = request.latest(latest);
        }
        if let Some(cursor) = args.cursor.filter(|c| !c.is_empty()) {
            request = request.cursor(cursor);
        }
        Ok(self
            .client
            .conversations_history_all(&request, limit)
            .await?
            .into())
    }
}

/// The arguments of `slack_thread_replies`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadRepliesArgs {
    /// The channel ID holding the thread, e.g. `C0123456789`.
    pub channel: String,
    /// The `ts` of the thread's parent message, e.g. `1482960137.003543`.
    pub thread_ts: String,
    /// How many messages to return, the parent first and then replies oldest first (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    /// To read further: the `next_cursor` a previous call returned.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `slack_thread_replies`: a thread's parent and replies (same scopes as channel history).
#[derive(Clone, Debug)]
pub struct ThreadRepliesTool {
    client: SlackClient,
    options: SlackToolOptions,
}

impl ThreadRepliesTool {
    /// The tool over `client`.
    pub fn new(client: SlackClient, options: SlackToolOptions) -> Self {
        ThreadRepliesTool { client, options }
    }
}

impl Tool for ThreadRepliesTool {
    type Args = ThreadRepliesArgs;
    type Output = Messages;

    fn name(&self) -> &str {
        "slack_thread_replies"
    }

    fn description(&self) -> &str {
        "Reads a Slack thread: its parent message first, then the replies, oldest first."
    }

    fn backend(&self) -> &str {
        "slack"
    }

    async fn call(&self, args: ThreadRepliesArgs, _ctx: ToolContext) -> Result<Messages, ToolError> {
        check_channel(&args.channel)?;
        check_ts("thread_ts", &args.thread_ts)?;
        let limit = check_limit(args.limit, &self.options)?;
        let mut request = RepliesRequest::new(args.channel, args.thread_ts);
        if let Some(cursor) = args.cursor.filter(|c| !c.is_empty()) {
            request = request.cursor(cursor);
        }
        Ok(self
            .client
            .conversations_replies_all(&request, limit)
            .await?
            .into())
    }
}

/// The arguments of `slack_user_info`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInfoArgs {
    /// The user ID, e.g. `U0123456789` (as in a message's `user` field or a `<@U…>` mention).
    pub user: String,
}

/// What `slack_user_info` returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserSummary {
    /// The user ID.
    pub id: String,
    /// The handle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The full name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_name: Option<String>,
    /// The display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The job title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// The email, only when the tool is configured to show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A bot user.
    pub is_bot: bool,
    /// A workspace admin.
    pub is_admin: bool,
    /// Deactivated.
    pub deleted: bool,
}

/// `slack_user_info`: who a user ID is (scope `users:read`).
#[derive(Clone, Debug)]
pub struct UserInfoTool {
    client: SlackClient,
    options: SlackToolOptions,
}

impl UserInfoTool {
    /// The tool over `client`.
    pub fn new(client: SlackClient, options: SlackToolOptions) -> Self {
        UserInfoTool { client, options }
    }
}

impl Tool for UserInfoTool {
    type Args = UserInfoArgs;
    type Output = UserSummary;

    fn name(&self) -> &str {
        "slack_user_info"
    }

    fn description(&self) -> &str {
        "Looks up a Slack user by ID: name, display name, title, time zone, and whether it is a bot."
    }

    fn backend(&self) -> &str {
        "slack"
    }

    async fn call(&self, args: UserInfoArgs, _ctx: ToolContext) -> Result<UserSummary, ToolError> {
        let id = args.user.trim();
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            return Err(ToolError::InvalidArguments(format!(
                "`user` must be a user ID such as U0123456789, got {:?}",
                args.user
            )));
        }
        // Accept the mention form the model may copy from a message.
        let id = id
            .strip_prefix("<@")
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(id);
        let user = self.client.users_info(id).await?;
        let profile = user.profile;
        Ok(UserSummary {
            id: user.id,
            name: user.name,
            real_name: user.real_name.or(profile.real_name),
            display_name: profile.display_name.filter(|n| !n.is_empty()),
            title: profile.title.filter(|t| !t.is_empty()),
            tz: user.tz,
            email: profile.email.filter(|_| self.options.include_email),
            is_bot: user.is_bot,
            is_admin: user.is_admin,
            deleted: user.deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_checked() {
        assert!(check_ts("ts", "1515449522.000016").is_ok());
        for bad in ["", "1515449522", ".1", "1.", "abc.def", "1.2.3"] {
            assert!(
                matches!(check_ts("ts", bad), Err(ToolError::InvalidArguments(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_are_bounded() {
        let options = SlackToolOptions::default();
        assert_eq!(check_limit(None, &options), Ok(20));
        assert_eq!(check_limit(Some(100), &options), Ok(100));
        assert!(check_limit(Some(0), &options).is_err());
        assert!(check_limit(Some(101), &options).is_err());
    }

    #[test]
    fn schemas_describe_the_arguments() {
        let schema = serde_json::to_value(schemars::schema_for!(PostMessageArgs)).unwrap();
        let properties = &schema["properties"];
        assert!(
            properties["thread_ts"]["description"]
                .as_str()
                .unwrap()
                .contains("thread")
        );
        assert_eq!(schema["required"], serde_json::json!(["channel", "text"]));
    }
}
