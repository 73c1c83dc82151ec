//! `volley down [NAME...]`: asks the supervisor to stop services (default: all) and
//! what depends on them, dependents first, in parallel; prints how long each took.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use super::args::{Cli, DownArgs};
use super::{CliError, color_choice, exit, project, up};
use crate::service::{Client, Request, Response, SupervisorPaths, pids, remove_stale};
use crate::ui;

pub fn down(cli: &Cli, args: &DownArgs) -> Result<i32, CliError> {
    let color = ui::resolve_color(color_choice(cli.color), std::io::stderr().is_terminal());
    let project = project::load(cli.file.as_deref(), color)?;
    up::check_names(&project, &args.names)?;
    let paths = SupervisorPaths::new(&project.settings.state_dir);
    let Some(mut client) = Client::connect(&paths) else {
        let (removed, orphans) = pids::clean_stale(&paths.pids, true);
        println!("no services are running (no supervisor for this project)");
        for orphan in &orphans {
            println!(
                "killed pid {} left over from a supervisor that died ({})",
                orphan.pid,
                orphan.path.display()
            );
        }
        if removed > orphans.len() {
            println!("removed {} stale PID file(s)", removed - orphans.len());
        }
        if remove_stale(&paths) {
            println!("removed the socket of a supervisor that died ({})", paths.socket.display());
        }
        return Ok(exit::SUCCESS);
    };
    let started = Instant::now();
    let response = client
        .request(Request::Down { names: args.names.clone() })
        .map_err(|e| CliError::Runtime(format!("the supervisor did not answer: {e}")))?;
    match response {
        Response::Down { mut stopped } => {
            stopped.sort_by_key(|s| std::cmp::Reverse(s.time_to_stop_us));
            for s in &stopped {
                let killed = if s.killed { " (killed after its stop timeout)" } else { "" };
                println!(
                    "■ {} stopped in {}{killed}",
                    s.name,
                    ui::format_duration(Duration::from_micros(s.time_to_stop_us))
                );
            }
            println!("stopped {} service(s) in {}", stopped.len(), ui::format_duration(started.elapsed()));
            Ok(exit::SUCCESS)
        }
        Response::Error { message } => Err(CliError::usage(message)),
        other => Err(CliError::Runtime(format!("unexpected answer from the supervisor: {other:?}"))),
    }
}
