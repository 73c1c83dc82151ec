//! volley: a fast, dependency-aware parallel task runner and process orchestrator.
//!
//! Layers (imports point downward only): `cli` wires everything; `runner` is the one
//! event loop that drives the pure scheduler of `volley_core` with an executor and
//! turns what happens into events; `exec` owns processes; `ui` and `logs` consume
//! events. Adapters never import each other; they meet in `runner`.

pub mod cli;
pub mod exec;
pub mod logs;
pub mod memory;
pub mod record;
pub mod report;
pub mod runner;
pub mod sample;
pub mod service;
pub mod ui;
