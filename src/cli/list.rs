//! `volley list`: the tasks and services of the file, with their descriptions and
//! dependencies, like `just --list`.

use std::fmt::Write;

use volley_core::model::Project;

pub fn print(project: &Project) {
    print!("{}", render(project));
}

fn render(project: &Project) -> String {
    let width = project
        .tasks
        .iter()
        .map(|t| t.name.len())
        .chain(project.services.iter().map(|s| s.name.len()))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let line = |out: &mut String, name: &str, description: Option<&String>, deps: &[String]| {
        let _ = write!(out, "  {name:width$}");
        if let Some(description) = description {
            let _ = write!(out, "  {description}");
        }
        if !deps.is_empty() {
            let _ = write!(out, "  (needs {})", deps.join(", "));
        }
        out.push('\n');
    };
    if !project.tasks.is_empty() {
        out.push_str("Tasks:\n");
        for task in &project.tasks {
            line(&mut out, &task.name, task.description.as_ref(), &task.deps);
        }
    }
    if !project.services.is_empty() {
        out.push_str("Services:\n");
        for service in &project.services {
            line(&mut out, &service.name, service.description.as_ref(), &service.deps);
        }
    }
    out
}
