//! The one event loop: the pure scheduler decides, the executor runs processes,
//! timers and signals interrupt, and everything that happens becomes an
//! [`Event`](volley_core::event::Event) handed to every sink in order.

mod env;
mod plan;
mod run_loop;
mod timers;

pub use env::{BaseEnv, EnvError};
pub use plan::{
    Expectations, PlanError, RunPlan, Selection, UnitExec, build, closest, default_jobs, project_graph,
};
pub use run_loop::{RunOptions, Runner};
