//! The reference enterprise workflow agent built on agentflow (not built yet).
