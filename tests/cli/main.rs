//! End-to-end tests of the `volley` binary: every command as a user types it, with
//! real processes in a temporary project. One binary, one file per feature.

mod support;

mod check;
mod examples;
mod fanout;
mod footer;
mod history;
mod output;
mod plan;
mod processes;
mod report;
mod run;
mod sampling;
mod services;
mod services_detached;
mod services_dev_env;
mod services_run;
mod signals;
mod status;
