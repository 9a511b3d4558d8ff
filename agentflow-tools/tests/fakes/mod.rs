//! Stateful fakes of the vendor APIs the tools call, served on loopback by the test process.
// Each test binary uses a different part of the fakes.
#![allow(dead_code)]

pub mod jira;
pub mod slack;
