//! `volley status`: what is going on in this project, from another terminal.
//!
//! The output is a list of [`Section`]s, each with its text and its JSON value under a
//! stable key. Today there is one, `runs` (a `volley run` or `exec` in progress, read
//! from `history.db` as the recorder writes it); services (SPEC §4) add their own
//! section beside it without touching this one.

use std::io::IsTerminal;

use super::args::{Cli, StatusArgs};
use super::{CliError, color_choice, exit, project, status_run};
use crate::ui;

/// One part of `volley status`.
pub struct Section {
    /// Its key in `--json` output.
    pub key: &'static str,
    /// Human-readable lines, each ending in `\n`.
    pub text: String,
    pub json: serde_json::Value,
}

pub fn status(cli: &Cli, args: &StatusArgs) -> Result<i32, CliError> {
    let color_stderr = ui::resolve_color(color_choice(cli.color), std::io::stderr().is_terminal());
    let project = project::load(cli.file.as_deref(), color_stderr)?;
    let now_us = jiff::Timestamp::now().as_microsecond();
    let mut sections = vec![status_run::section(&project.settings.state_dir, now_us)?];
    if !project.services.is_empty() {
        sections.push(super::status_services::section(&project)?);
    }
    let output = if args.json {
        let object: serde_json::Map<String, serde_json::Value> =
            sections.into_iter().map(|s| (s.key.to_string(), s.json)).collect();
        let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(object))
            .map_err(|e| CliError::Runtime(format!("cannot encode the status: {e}")))?;
        text.push('\n');
        text
    } else {
        sections.into_iter().map(|s| s.text).collect::<Vec<_>>().join("\n")
    };
    super::print_stdout(&output);
    Ok(exit::SUCCESS)
}
