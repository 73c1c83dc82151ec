//! The dependency graph of units (tasks and services share one namespace).
//!
//! Ids are dense `u32` indices; names are for display. Edges point from a unit to
//! what it needs (`deps`) and back (`dependents`). Pure: no I/O, no clocks. All
//! algorithms are iterative so a 100 000-node chain cannot overflow the stack.

use std::collections::HashMap;

/// Index of a unit in its [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct UnitId(pub u32);

impl UnitId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    names: Vec<String>,
    by_name: HashMap<String, UnitId>,
    deps: Vec<Vec<UnitId>>,
    dependents: Vec<Vec<UnitId>>,
}

impl Graph {
    /// Builds a graph from unit names and, per unit, the ids it depends on.
    /// Duplicate edges are dropped. Cycles are allowed here; see [`Graph::find_cycle`].
    pub fn new(names: Vec<String>, mut deps: Vec<Vec<UnitId>>) -> Self {
        assert_eq!(names.len(), deps.len(), "one dependency list per unit");
        let mut dependents = vec![Vec::new(); names.len()];
        for (unit, unit_deps) in deps.iter_mut().enumerate() {
            let mut seen = std::collections::HashSet::new();
            unit_deps.retain(|d| seen.insert(*d));
            for dep in unit_deps.iter() {
                dependents[dep.index()].push(UnitId(unit as u32));
            }
        }
        let by_name = names.iter().enumerate().map(|(i, n)| (n.clone(), UnitId(i as u32))).collect();
        Graph { names, by_name, deps, dependents }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = UnitId> + use<> {
        (0..self.names.len() as u32).map(UnitId)
    }

    pub fn name(&self, id: UnitId) -> &str {
        &self.names[id.index()]
    }

    pub fn id(&self, name: &str) -> Option<UnitId> {
        self.by_name.get(name).copied()
    }

    pub fn deps(&self, id: UnitId) -> &[UnitId] {
        &self.deps[id.index()]
    }

    pub fn dependents(&self, id: UnitId) -> &[UnitId] {
        &self.dependents[id.index()]
    }

    /// A dependency cycle as a path that ends where it starts (`a, b, c, a`: a needs b,
    /// b needs c, c needs a), or `None`. Deterministic: the first cycle reached from the
    /// lowest id, following dependencies in declaration order.
    pub fn find_cycle(&self) -> Option<Vec<UnitId>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut mark = vec![Mark::New; self.len()];
        for start in self.ids() {
            if mark[start.index()] != Mark::New {
                continue;
            }
            // (unit, index of the next dependency to visit)
            let mut path: Vec<(UnitId, usize)> = vec![(start, 0)];
            mark[start.index()] = Mark::OnPath;
            while let Some(&mut (unit, ref mut next)) = path.last_mut() {
                if let Some(&dep) = self.deps(unit).get(*next) {
                    *next += 1;
                    match mark[dep.index()] {
                        Mark::New => {
                            mark[dep.index()] = Mark::OnPath;
                            path.push((dep, 0));
                        }
                        Mark::OnPath => {
                            let from = path.iter().position(|(u, _)| *u == dep).unwrap_or(0);
                            let mut cycle: Vec<UnitId> = path[from..].iter().map(|(u, _)| *u).collect();
                            cycle.push(dep);
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    }
                } else {
                    mark[unit.index()] = Mark::Done;
                    path.pop();
                }
            }
        }
        None
    }

    /// Units in an order where every unit comes after its dependencies (Kahn's
    /// algorithm, ties by id). `None` if the graph has a cycle.
    pub fn topo_order(&self) -> Option<Vec<UnitId>> {
        let mut missing: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: std::collections::VecDeque<UnitId> =
            self.ids().filter(|u| missing[u.index()] == 0).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(unit) = ready.pop_front() {
            order.push(unit);
            for &dependent in self.dependents(unit) {
                missing[dependent.index()] -= 1;
                if missing[dependent.index()] == 0 {
                    ready.push_back(dependent);
                }
            }
        }
        (order.len() == self.len()).then_some(order)
    }

    /// `roots` and everything they transitively depend on.
    pub fn closure(&self, roots: &[UnitId]) -> Vec<bool> {
        let mut included = vec![false; self.len()];
        let mut stack: Vec<UnitId> = roots.to_vec();
        while let Some(unit) = stack.pop() {
            if !std::mem::replace(&mut included[unit.index()], true) {
                stack.extend_from_slice(self.deps(unit));
            }
        }
        included
    }

    /// For each unit, the heaviest path from it to the end of the graph, its own
    /// weight included ("bottom level"). The scheduler's priority. Requires no cycle.
    pub fn bottom_levels(&self, weights: &[f64]) -> Vec<f64> {
        let order = self.topo_order().unwrap_or_else(|| self.ids().collect());
        let mut level = weights.to_vec();
        for &unit in order.iter().rev() {
            let below = self.dependents(unit).iter().map(|d| level[d.index()]).fold(0.0, f64::max);
            level[unit.index()] = weights[unit.index()] + below;
        }
        level
    }

    /// The heaviest chain through the graph and its total weight. Requires no cycle.
    pub fn critical_path(&self, weights: &[f64]) -> (Vec<UnitId>, f64) {
        let level = self.bottom_levels(weights);
        let best = |candidates: &mut dyn Iterator<Item = UnitId>| {
            candidates.max_by(|a, b| level[a.index()].total_cmp(&level[b.index()]).then(b.cmp(a)))
        };
        let mut path = Vec::new();
        let Some(mut unit) = best(&mut self.ids().filter(|u| self.deps(*u).is_empty())) else {
            return (path, 0.0);
        };
        let total = level[unit.index()];
        loop {
            path.push(unit);
            match best(&mut self.dependents(unit).iter().copied()) {
                Some(next) => unit = next,
                None => return (path, total),
            }
        }
    }

    /// Units grouped by depth: level 0 needs nothing, level k needs something at k-1.
    pub fn levels(&self) -> Vec<Vec<UnitId>> {
        let order = self.topo_order().unwrap_or_else(|| self.ids().collect());
        let mut depth = vec![0usize; self.len()];
        for &unit in &order {
            depth[unit.index()] = self.deps(unit).iter().map(|d| depth[d.index()] + 1).max().unwrap_or(0);
        }
        let mut levels: Vec<Vec<UnitId>> = Vec::new();
        for unit in self.ids() {
            let d = depth[unit.index()];
            if levels.len() <= d {
                levels.resize_with(d + 1, Vec::new);
            }
            levels[d].push(unit);
        }
        levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        let names: Vec<String> = edges.iter().map(|(n, _)| (*n).to_string()).collect();
        let id = |n: &str| UnitId(names.iter().position(|x| x == n).expect("known name") as u32);
        let deps = edges.iter().map(|(_, ds)| ds.iter().map(|d| id(d)).collect()).collect();
        Graph::new(names, deps)
    }

    fn names(g: &Graph, ids: &[UnitId]) -> Vec<String> {
        ids.iter().map(|u| g.name(*u).to_string()).collect()
    }

    #[test]
    fn cycle_is_reported_as_a_closed_path() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        let cycle = g.find_cycle().expect("a cycle");
        assert_eq!(names(&g, &cycle), ["a", "b", "c", "a"]);
        assert!(g.topo_order().is_none());
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let g = graph(&[("a", &["a"])]);
        assert_eq!(names(&g, &g.find_cycle().expect("cycle")), ["a", "a"]);
    }

    #[test]
    fn acyclic_graph_has_dependencies_first() {
        let g = graph(&[("d", &["b", "c"]), ("b", &["a"]), ("c", &["a"]), ("a", &[])]);
        assert!(g.find_cycle().is_none());
        let order = g.topo_order().expect("acyclic");
        let pos = |n: &str| order.iter().position(|u| g.name(*u) == n).expect("present");
        assert!(pos("a") < pos("b") && pos("b") < pos("d") && pos("c") < pos("d"));
    }

    #[test]
    fn closure_includes_transitive_deps_only() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("x", &[])]);
        let c = g.id("c").expect("c");
        assert_eq!(g.closure(&[c]), [true, true, true, false]);
    }

    #[test]
    fn critical_path_follows_the_heaviest_chain() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])]);
        let (path, len) = g.critical_path(&[1.0, 5.0, 2.0, 1.0]);
        assert_eq!(names(&g, &path), ["a", "b", "d"]);
        assert!((len - 7.0).abs() < 1e-9);
        assert_eq!(g.bottom_levels(&[1.0, 5.0, 2.0, 1.0]), [7.0, 6.0, 3.0, 1.0]);
    }

    #[test]
    fn levels_group_by_depth() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &[]), ("d", &["b", "c"])]);
        let levels: Vec<Vec<String>> = g.levels().iter().map(|l| names(&g, l)).collect();
        assert_eq!(levels, [vec!["a", "c"], vec!["b"], vec!["d"]]);
    }

    #[test]
    fn long_chain_does_not_overflow_the_stack() {
        let n = 100_000;
        let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
        let deps = (0..n).map(|i| if i == 0 { vec![] } else { vec![UnitId(i - 1)] }).collect();
        let g = Graph::new(names, deps);
        assert!(g.find_cycle().is_none());
        assert_eq!(g.critical_path(&vec![1.0; n as usize]).0.len(), n as usize);
    }
}
