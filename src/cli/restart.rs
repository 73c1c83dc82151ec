//! `volley restart NAME`: the supervisor stops that one service (its dependents keep
//! running) and starts it again; returns once it is ready (or failed).

use std::io::IsTerminal;
use std::time::Instant;

use super::args::{Cli, RestartArgs};
use super::{CliError, color_choice, project, up};
use crate::service::{Client, Request, SupervisorPaths};
use crate::ui;

pub fn restart(cli: &Cli, args: &RestartArgs) -> Result<i32, CliError> {
    let color = ui::resolve_color(color_choice(cli.color), std::io::stderr().is_terminal());
    let project = project::load(cli.file.as_deref(), color)?;
    up::check_names(&project, std::slice::from_ref(&args.name))?;
    let paths = SupervisorPaths::new(&project.settings.state_dir);
    let Some(mut client) = Client::connect(&paths) else {
        return Err(CliError::usage("no services are running (no supervisor for this project)")
            .with_help(format!("start it with `volley up -d {}`", args.name)));
    };
    let started = Instant::now();
    let response = client
        .request(Request::Restart { name: args.name.clone() })
        .map_err(|e| CliError::Runtime(format!("the supervisor did not answer: {e}")))?;
    up::print_up(&response, started.elapsed())
}
