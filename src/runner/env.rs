//! The environment a task sees, layered as SPEC §2 says: volley's own environment,
//! then the dotenv files in order, then `settings.env`, then the task's `env`, then
//! `VOLLEY_TASK` and `VOLLEY_RUN_ID`. Later layers override earlier ones.
//!
//! volley never changes its own environment (edition 2024 makes `set_var` unsafe,
//! and a second run in the same process must see the same world): each child gets
//! an explicit, complete environment instead.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use volley_core::model::Project;

use crate::exec::Environment;

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("cannot read dotenv file {path}: {message}")]
    Dotenv { path: PathBuf, message: String },
}

/// Every layer below the task's own: process env + dotenv + settings.env, rendered
/// once for all the run's processes.
#[derive(Debug, Clone, Default)]
pub struct BaseEnv {
    env: Environment,
}

impl BaseEnv {
    pub fn load(project: &Project) -> Result<BaseEnv, EnvError> {
        let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        for file in &project.settings.dotenv {
            if file.optional && !file.path.exists() {
                continue;
            }
            for (key, value) in read_dotenv(&file.path)? {
                vars.insert(key.into(), value.into());
            }
        }
        for (key, value) in &project.settings.env {
            vars.insert(key.into(), value.into());
        }
        Ok(BaseEnv { env: Environment::new(vars) })
    }

    /// volley's own environment only (`volley exec`, which has no file).
    pub fn from_process() -> BaseEnv {
        BaseEnv { env: Environment::new(std::env::vars_os()) }
    }

    /// volley's `PATH` after the file's layers, used to find the shell once.
    pub fn path_var(&self) -> Option<&OsStr> {
        self.env.get("PATH")
    }

    /// The complete environment of one task.
    pub fn for_task(&self, task_env: &[(String, String)], task: &str, run_id: &str) -> Environment {
        let mut env = self.env.clone();
        for (key, value) in task_env {
            env.set(key, value);
        }
        env.set("VOLLEY_TASK", task);
        env.set("VOLLEY_RUN_ID", run_id);
        env
    }
}

fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>, EnvError> {
    let error = |message: String| EnvError::Dotenv { path: path.to_path_buf(), message };
    let iter = dotenvy::from_path_iter(path).map_err(|e| error(e.to_string()))?;
    iter.map(|item| item.map_err(|e| error(e.to_string()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_layer_overrides_base_and_volley_vars_come_last() {
        let base = BaseEnv { env: Environment::new([("A", "base"), ("VOLLEY_TASK", "spoofed")]) };
        let env = base.for_task(&[("A".into(), "task".into())], "build", "r1");
        assert_eq!(env.get("A"), Some(OsStr::new("task")));
        assert_eq!(env.get("VOLLEY_TASK"), Some(OsStr::new("build")));
        assert_eq!(env.get("VOLLEY_RUN_ID"), Some(OsStr::new("r1")));
        assert_eq!(env.vars().filter(|(name, _)| *name == "VOLLEY_TASK").count(), 1);
    }
}
