//! Tools, chat models, the prebuilt ReAct agent and the Slack, Jira, SQL and HTTP backends (issue #5; not built yet).
