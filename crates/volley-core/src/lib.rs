//! volley's pure core: the configuration model and its validation, the dependency
//! graph, the scheduler's decisions, fan-out expansion and the event vocabulary.
//!
//! Nothing here spawns, awaits, reads a clock, opens a file or prints: time, durations
//! and outcomes are arguments. That is what lets `volley plan` and `--dry-run` run the
//! real scheduler on recorded durations, and keeps scheduler tests deterministic.

pub mod alerts;
pub mod config;
pub mod event;
pub mod fanout;
pub mod forecast;
pub mod graph;
pub mod history;
pub mod model;
pub mod schedule;
pub mod services;
pub mod simple_command;
pub mod simulate;
pub mod summary;
