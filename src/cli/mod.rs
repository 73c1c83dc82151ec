//! Command-line entry point: parses arguments, wires the runner to its sinks, and
//! maps every outcome to the documented exit status (SPEC §2): 0 success, 1 a task
//! failed, 2 invalid configuration or usage, 130 interrupted.

mod args;
mod compare;
mod down;
mod exec;
mod history;
mod list;
mod logs;
mod panic;
mod plan;
mod plan_graph;
mod project;
mod report;
mod restart;
mod run;
mod status;
mod status_run;
mod status_services;
mod up;

use std::io::{IsTerminal, Write};

use clap::{CommandFactory, Parser};

pub use args::Cli;
use args::{ColorWhen, Command};

/// The documented exit statuses.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const INTERRUPTED: i32 = 130;
    /// A bug in volley (a panic), after which it stops everything; Rust's own status
    /// for a panicking `main`.
    pub const INTERNAL_ERROR: i32 = 101;
}

/// Something volley itself could not do, as opposed to a task failing.
#[derive(Debug)]
pub enum CliError {
    /// Bad command line or project (exit 2).
    Usage { message: String, help: Option<String> },
    /// Rendered configuration diagnostics (exit 2).
    Config(String),
    /// volley could not carry out the run (exit 1).
    Runtime(String),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage { message: message.into(), help: None }
    }

    #[must_use]
    pub fn with_help(self, help: impl Into<String>) -> Self {
        match self {
            CliError::Usage { message, .. } => CliError::Usage { message, help: Some(help.into()) },
            other => other,
        }
    }

    fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage { .. } | CliError::Config(_) => exit::USAGE,
            CliError::Runtime(_) => exit::FAILED,
        }
    }

    fn print(&self, color: bool) {
        let (red, bold, reset) = if color { ("\x1b[1;31m", "\x1b[1m", "\x1b[0m") } else { ("", "", "") };
        let mut err = std::io::stderr().lock();
        let _ = match self {
            CliError::Config(rendered) => write!(err, "{rendered}"),
            CliError::Usage { message, help } => {
                let _ = writeln!(err, "{red}error{reset}{bold}: {message}{reset}");
                match help {
                    Some(help) => writeln!(err, "  = help: {help}"),
                    None => Ok(()),
                }
            }
            CliError::Runtime(message) => writeln!(err, "{red}error{reset}{bold}: {message}{reset}"),
        };
    }
}

/// Runs volley with the process's arguments and returns the exit status.
pub fn main() -> i32 {
    panic::end_on_panic();
    let cli = match Cli::try_parse_from(logs::follow_flag(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { exit::USAGE } else { exit::SUCCESS };
        }
    };
    let color_stderr = crate::ui::resolve_color(color_choice(cli.color), std::io::stderr().is_terminal());
    match dispatch(&cli) {
        Ok(code) => code,
        Err(error) => {
            error.print(color_stderr);
            error.exit_code()
        }
    }
}

fn color_choice(when: ColorWhen) -> crate::ui::ColorChoice {
    match when {
        ColorWhen::Auto => crate::ui::ColorChoice::Auto,
        ColorWhen::Always => crate::ui::ColorChoice::Always,
        ColorWhen::Never => crate::ui::ColorChoice::Never,
    }
}

/// Writes `text` to stdout; a closed pipe (`volley plan | head`) is a quiet end.
fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn dispatch(cli: &Cli) -> Result<i32, CliError> {
    let color_stderr = crate::ui::resolve_color(color_choice(cli.color), std::io::stderr().is_terminal());
    match cli.command {
        Command::Run(ref args) => run::run(cli, args),
        Command::Exec(ref args) => exec::exec(cli, args),
        Command::History(ref args) => history::history(cli, args),
        Command::Plan(ref args) => plan::plan(cli, args),
        Command::Status(ref args) => status::status(cli, args),
        Command::Report(ref args) => report::report(cli, args),
        Command::Compare(ref args) => compare::compare(cli, args),
        Command::Check => {
            let project = project::load(cli.file.as_deref(), color_stderr)?;
            println!(
                "{}: ok ({} tasks, {} services)",
                project.file.display(),
                project.tasks.len(),
                project.services.len()
            );
            Ok(exit::SUCCESS)
        }
        Command::List => {
            let project = project::load(cli.file.as_deref(), color_stderr)?;
            list::print(&project);
            Ok(exit::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "volley", &mut std::io::stdout());
            Ok(exit::SUCCESS)
        }
        Command::Up(ref args) => up::up(cli, args),
        Command::Down(ref args) => down::down(cli, args),
        Command::Logs(ref args) => logs::logs(cli, args),
        Command::Restart(ref args) => restart::restart(cli, args),
        Command::Supervisor => up::supervisor_main(cli),
    }
}
