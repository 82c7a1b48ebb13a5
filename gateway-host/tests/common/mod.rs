//! Shared by the integration tests; each test file uses only part of it.
#![allow(dead_code)]

pub mod gateway;
pub mod modules;
pub mod paths;
