//! `volley exec`: one command fanned out over items from `:::` groups or stdin.
//!
//! Ad hoc, like GNU parallel: no file is needed. When a `volley.toml` is found
//! upward, its directory's `.volley/` holds the logs (and history), so runs in one
//! project are kept together; otherwise `.volley/` in the current directory.

use std::io::{BufRead, IsTerminal};

use volley_core::fanout::Template;
use volley_core::model::Settings;
use volley_core::schedule::FailPolicy;

use super::args::{Cli, ExecArgs, Halt};
use super::run::{DriveSettings, drive, fork_watchdog, new_run_id};
use super::{CliError, project};
use crate::runner::{BaseEnv, ExecRequest, MonitorOptions, build_exec, default_jobs};

const GROUP_SEPARATOR: &str = ":::";

pub fn exec(cli: &Cli, args: &ExecArgs) -> Result<i32, CliError> {
    // Before the items are read: see `fork_watchdog`.
    let watchdog = fork_watchdog();
    let (command, groups) = split_groups(&args.command)?;
    let groups = if groups.is_empty() { vec![stdin_items()?] } else { groups };
    Template::parse(&command)
        .check_groups(groups.len())
        .map_err(|e| CliError::usage(e.to_string()).with_help("number groups from 1, one per `:::`"))?;
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::usage(format!("cannot read the current directory: {e}")))?;
    let state_root = project::find(&cwd).and_then(|file| file.parent().map(std::path::Path::to_path_buf));
    let state_dir = state_root.unwrap_or_else(|| cwd.clone()).join(Settings::DEFAULT_STATE_DIR);
    let policy = if args.halt == Halt::Never { FailPolicy::KeepGoing } else { FailPolicy::FailFast };
    let plan = build_exec(ExecRequest {
        command,
        groups,
        slots: args.jobs.slots().unwrap_or_else(default_jobs),
        timeout: args.timeout,
        retries: args.retries,
        policy,
        dir: cwd,
    });
    let monitor = MonitorOptions { state_dir: state_dir.clone(), ..MonitorOptions::default() };
    let settings = DriveSettings {
        watchdog,
        shell: Settings::DEFAULT_SHELL.iter().map(|s| (*s).to_string()).collect(),
        kill_timeout: Settings::DEFAULT_KILL_TIMEOUT,
        state_dir,
        // `exec` reads no file, so it cannot know the project's `keep_logs`: it
        // removes nothing, and the next `volley run` prunes.
        keep_logs: None,
        monitor,
        halt_now: args.halt == Halt::Now,
        keep_order: args.keep_order,
    };
    drive(cli, &args.output, plan, BaseEnv::from_process(), settings, None, &new_run_id())
}

/// The command (words before the first `:::`, joined by spaces as GNU parallel
/// does) and the item groups after each `:::`.
fn split_groups(words: &[String]) -> Result<(String, Vec<Vec<String>>), CliError> {
    let mut parts = words.split(|w| w == GROUP_SEPARATOR);
    let command = parts.next().unwrap_or_default().join(" ");
    if command.trim().is_empty() {
        return Err(
            CliError::usage("no command given before `:::`").with_help("volley exec 'echo {}' ::: a b c")
        );
    }
    let groups: Vec<Vec<String>> = parts.map(<[String]>::to_vec).collect();
    if groups.iter().any(Vec::is_empty) {
        return Err(
            CliError::usage("a `:::` group has no items").with_help("put at least one item after each `:::`")
        );
    }
    Ok((command, groups))
}

/// Items from stdin, one per line; blank lines are ignored.
fn stdin_items() -> Result<Vec<String>, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CliError::usage("no items: give `::: ITEM...` or pipe items on stdin, one per line"));
    }
    let mut items = Vec::new();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| CliError::usage(format!("cannot read items from stdin: {e}")))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if !line.trim().is_empty() {
            items.push(line.to_string());
        }
    }
    Ok(items)
}
