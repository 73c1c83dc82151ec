//! Snapshots of simulated timelines (`Timeline::render_text`) for small graphs that
//! resemble the spec's workloads. A change in start order, lanes or predicted times
//! shows up here as a reviewed diff.

use std::time::Duration;

use super::test_support::graph;
use super::{Instances, Limits, UnitPlan};
use crate::simulate::simulate;

/// Simulates with priorities = bottom levels by duration, as the runner plans with
/// history. `durations` are in milliseconds; `tweak` adjusts plans by unit name.
fn render(
    edges: &[(&str, &[&str])],
    durations_ms: &[u64],
    limits: Limits,
    tweak: impl Fn(&str, &mut UnitPlan),
) -> String {
    let g = graph(edges);
    let durations: Vec<Duration> = durations_ms.iter().map(|ms| Duration::from_millis(*ms)).collect();
    let weights: Vec<f64> = durations.iter().map(Duration::as_secs_f64).collect();
    let plans = g
        .bottom_levels(&weights)
        .into_iter()
        .zip(edges)
        .map(|(level, (name, _))| {
            let mut plan = UnitPlan::task(level);
            tweak(name, &mut plan);
            plan
        })
        .collect();
    let timeline = simulate(&g, plans, limits, &durations);
    format!("makespan {:.3}s\n{}", timeline.makespan.as_secs_f64(), timeline.render_text(&g))
}

#[test]
fn installer_chain_with_optional_packages_beside_it() {
    let edges: &[(&str, &[&str])] = &[
        ("bootstrap", &[]),
        ("homebrew", &["bootstrap"]),
        ("essential", &["homebrew"]),
        ("symlinks", &["essential"]),
        ("fonts", &["homebrew"]),
        ("rust", &["bootstrap"]),
        ("node", &["bootstrap"]),
        ("editor", &["essential", "node"]),
    ];
    let text = render(
        edges,
        &[2000, 3000, 8000, 500, 3500, 6000, 2500, 1500],
        Limits { slots: 2, pools: vec![] },
        |_, _| {},
    );
    insta::assert_snapshot!(text);
}

#[test]
fn long_leaf_starts_before_short_independent_work() {
    let edges: &[(&str, &[&str])] =
        &[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[]), ("setup", &[]), ("long", &["setup"])];
    let text =
        render(edges, &[1000, 1000, 1000, 1000, 500, 4000], Limits { slots: 2, pools: vec![] }, |_, _| {});
    insta::assert_snapshot!(text);
}

#[test]
fn fan_out_with_a_jobs_cap_and_a_network_pool() {
    let edges: &[(&str, &[&str])] =
        &[("fetch", &[]), ("upgrade", &["fetch"]), ("report", &["upgrade"]), ("mirror", &[]), ("docs", &[])];
    let text =
        render(edges, &[500, 1500, 250, 2000, 3000], Limits { slots: 3, pools: vec![1] }, |name, plan| {
            match name {
                "upgrade" => (plan.instances, plan.cap) = (Instances::Known(5), Some(2)),
                "fetch" | "mirror" => plan.pool = Some(0),
                _ => {}
            }
        });
    insta::assert_snapshot!(text);
}

#[test]
fn one_slot_runs_in_priority_order() {
    let edges: &[(&str, &[&str])] =
        &[("build", &[]), ("test", &["build"]), ("lint", &[]), ("package", &["test"])];
    let text = render(edges, &[3000, 2000, 1000, 500], Limits { slots: 1, pools: vec![] }, |_, _| {});
    insta::assert_snapshot!(text);
}
