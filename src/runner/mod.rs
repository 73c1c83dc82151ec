//! The one event loop: the pure scheduler decides, the executor runs processes,
//! timers and signals interrupt, and everything that happens becomes an
//! [`Event`](volley_core::event::Event) handed to every sink in order.

mod direct;
mod env;
mod fanout;
mod monitoring;
mod plan;
mod run_loop;
mod services;
mod timers;

pub use env::{BaseEnv, EnvError};
pub use fanout::{FanOut, Naming, items_from_lines};
pub use monitoring::{MonitorOptions, Monitoring, Peaks};
pub use plan::{
    ExecRequest, Expectations, PlanError, RunPlan, Selection, UnitExec, build, build_exec, closest,
    default_jobs, project_graph,
};
pub use run_loop::{RunOptions, Runner};
pub use services::{Recording, RunServices, ServicesError};
