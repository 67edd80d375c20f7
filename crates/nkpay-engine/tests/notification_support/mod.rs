//! Shared by the `notify_*` integration tests.
#![allow(dead_code)] // each test binary uses a different part

pub mod fixtures;
pub mod receiver;
