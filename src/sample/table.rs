//! The process table of one sampling pass and the attribution of its processes to
//! running attempts, independent of where the table came from (so it is tested with
//! fake tables).
//!
//! An attempt's *tree* is every process in its process group (the executor makes each
//! attempt the leader of its own group, pgid == pid) plus every descendant of those
//! that moved to another group or session (`setsid`, a shell's job control), found
//! by following parent pids down from the group. A descendant that was orphaned
//! (re-parented to init) *and* left the group cannot be found by either rule; it is
//! not counted.

use std::collections::HashMap;

/// One process as read from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessEntry {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    /// utime + stime + cutime + cstime, in clock ticks. Including the waited-for
    /// children's time keeps a tree's total from dropping when a member reaps a child
    /// (the child's ticks move into its parent's `cutime`).
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
    /// Number of threads (a tree walk lists them only when there are several).
    pub threads: u32,
}

/// Reusable buffers for [`Attribution::attribute`]: a pass allocates nothing once
/// the buffers have grown to the machine's process count.
#[derive(Debug, Default)]
pub struct Attribution {
    /// For each table entry, the index of the leader whose tree holds it.
    owner: Vec<Option<usize>>,
    /// (ppid, entry index), sorted: the children of a pid are one range.
    by_parent: Vec<(u32, usize)>,
    leader_of_group: HashMap<u32, usize>,
    queue: Vec<usize>,
}

/// What one tree adds up to in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeTotals {
    pub processes: usize,
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
}

impl Attribution {
    /// Assigns each entry of `table` to at most one of `leaders` (pids of running
    /// attempts, each its group's id). Returns, per entry, the index into `leaders`.
    pub fn attribute(&mut self, table: &[ProcessEntry], leaders: &[u32]) -> &[Option<usize>] {
        self.owner.clear();
        self.owner.resize(table.len(), None);
        self.leader_of_group.clear();
        self.leader_of_group.extend(leaders.iter().enumerate().map(|(i, pid)| (*pid, i)));
        self.queue.clear();
        for (index, entry) in table.iter().enumerate() {
            if let Some(&leader) = self.leader_of_group.get(&entry.pgid) {
                self.owner[index] = Some(leader);
                self.queue.push(index);
            }
        }
        if self.queue.is_empty() {
            return &self.owner;
        }
        self.by_parent.clear();
        self.by_parent.extend(table.iter().enumerate().map(|(i, e)| (e.ppid, i)));
        self.by_parent.sort_unstable();
        // Down from every group member: children that left the group stay in the tree.
        while let Some(index) = self.queue.pop() {
            let leader = self.owner[index];
            let pid = table[index].pid;
            let start = self.by_parent.partition_point(|(ppid, _)| *ppid < pid);
            for &(ppid, child) in &self.by_parent[start..] {
                if ppid != pid {
                    break;
                }
                if self.owner[child].is_none() {
                    self.owner[child] = leader;
                    self.queue.push(child);
                }
            }
        }
        &self.owner
    }
}

/// Sums the entries `owner` assigns to each of `leaders` leaders.
pub fn totals(table: &[ProcessEntry], owner: &[Option<usize>], leaders: usize) -> Vec<TreeTotals> {
    let mut totals = vec![TreeTotals::default(); leaders];
    for (entry, owner) in table.iter().zip(owner) {
        if let Some(leader) = owner {
            let t = &mut totals[*leader];
            t.processes += 1;
            t.cpu_ticks += entry.cpu_ticks;
            t.rss_bytes += entry.rss_bytes;
        }
    }
    totals
}

/// Parses the fields volley needs from the text of `/proc/<pid>/stat`. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted from the
/// *last* `)`. `None` for anything malformed.
pub fn parse_stat(text: &[u8], page_size: u64) -> Option<ProcessEntry> {
    let open = text.iter().position(|b| *b == b'(')?;
    let close = text.iter().rposition(|b| *b == b')')?;
    let pid = std::str::from_utf8(&text[..open]).ok()?.trim().parse().ok()?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    // After the name: state(3) ppid(4) pgrp(5) … utime(14) stime(15) cutime(16)
    // cstime(17) … num_threads(20) … rss(24); `nth(k)` skips k fields.
    let mut fields = rest.split_ascii_whitespace();
    let mut field = |skip: usize| fields.nth(skip);
    let _state = field(0)?;
    let parent: i64 = field(0)?.parse().ok()?;
    let group: i64 = field(0)?.parse().ok()?;
    let user: u64 = field(8)?.parse().ok()?;
    let system: u64 = field(0)?.parse().ok()?;
    let children_user: i64 = field(0)?.parse().ok()?;
    let children_system: i64 = field(0)?.parse().ok()?;
    let threads: u32 = field(2)?.parse().ok()?;
    let rss_pages: i64 = field(3)?.parse().ok()?;
    Some(ProcessEntry {
        pid,
        ppid: u32::try_from(parent).unwrap_or(0),
        pgid: u32::try_from(group).unwrap_or(0),
        cpu_ticks: user + system + children_user.max(0) as u64 + children_system.max(0) as u64,
        rss_bytes: rss_pages.max(0) as u64 * page_size,
        threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, parent: u32, group: u32, rss_mib: u64) -> ProcessEntry {
        ProcessEntry {
            pid,
            ppid: parent,
            pgid: group,
            cpu_ticks: u64::from(pid),
            rss_bytes: rss_mib << 20,
            threads: 1,
        }
    }

    fn owners(table: &[ProcessEntry], leaders: &[u32]) -> Vec<(u32, Option<usize>)> {
        let mut attribution = Attribution::default();
        let owner = attribution.attribute(table, leaders);
        table.iter().zip(owner).map(|(e, o)| (e.pid, *o)).collect()
    }

    #[test]
    fn group_members_and_descendants_that_left_the_group_count() {
        // init 1; volley 50; attempt A = group 100 (sh 100 → make 101 → cc 102,
        // and a daemon 103 that called setsid → its child 104); attempt B = 200.
        let table = [
            p(1, 0, 1, 10),
            p(50, 1, 50, 5),
            p(100, 50, 100, 1),
            p(101, 100, 100, 2),
            p(102, 101, 100, 30),
            p(103, 101, 103, 7),
            p(104, 103, 103, 8),
            p(200, 50, 200, 3),
            p(300, 1, 300, 99),
        ];
        let got = owners(&table, &[100, 200]);
        assert_eq!(
            got,
            vec![
                (1, None),
                (50, None),
                (100, Some(0)),
                (101, Some(0)),
                (102, Some(0)),
                (103, Some(0)),
                (104, Some(0)),
                (200, Some(1)),
                (300, None),
            ]
        );
        let mut attribution = Attribution::default();
        let owner = attribution.attribute(&table, &[100, 200]).to_vec();
        let sums = totals(&table, &owner, 2);
        assert_eq!(sums[0], TreeTotals { processes: 5, cpu_ticks: 510, rss_bytes: 48 << 20 });
        assert_eq!(sums[1], TreeTotals { processes: 1, cpu_ticks: 200, rss_bytes: 3 << 20 });
    }

    #[test]
    fn an_orphan_still_in_the_group_counts_even_under_init() {
        // `sh -c 'sleep 100 &'`: sh exited, sleep was re-parented to init but keeps the group.
        let table = [p(1, 0, 1, 10), p(101, 1, 100, 1)];
        assert_eq!(owners(&table, &[100]), vec![(1, None), (101, Some(0))]);
    }

    #[test]
    fn a_process_in_another_attempts_group_stays_with_that_group() {
        // Unusual but possible: B's leader is a descendant of A's (pid reuse aside,
        // a task that runs `volley` itself). Group membership wins.
        let table = [p(100, 50, 100, 1), p(200, 100, 200, 1), p(201, 200, 200, 1)];
        assert_eq!(owners(&table, &[100, 200]), vec![(100, Some(0)), (200, Some(1)), (201, Some(1))]);
    }

    #[test]
    fn nothing_is_attributed_without_leaders_or_when_the_leader_is_gone() {
        let table = [p(1, 0, 1, 1), p(5, 1, 5, 1)];
        assert_eq!(owners(&table, &[]), vec![(1, None), (5, None)]);
        assert_eq!(owners(&table, &[42]), vec![(1, None), (5, None)]);
        let sums = totals(&table, &[None, None], 1);
        assert_eq!(sums[0], TreeTotals::default());
    }

    #[test]
    fn buffers_are_reused_between_passes() {
        let mut attribution = Attribution::default();
        let big: Vec<ProcessEntry> = (1..=500).map(|pid| p(pid, pid - 1, 1, 0)).collect();
        assert!(attribution.attribute(&big, &[1]).iter().all(Option::is_some));
        let small = [p(7, 1, 7, 0)];
        assert_eq!(attribution.attribute(&small, &[1]), &[None]);
        assert!(attribution.owner.capacity() >= 500);
    }

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let line = b"4242 (we ird) (name)) S 4200 4242 4100 34817 4242 4194304 90 0 0 0 \
                     17 3 5 2 20 0 1 0 123456 10000000 256 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let entry = parse_stat(line, 4096).expect("parses");
        assert_eq!(
            entry,
            ProcessEntry {
                pid: 4242,
                ppid: 4200,
                pgid: 4242,
                cpu_ticks: 27,
                rss_bytes: 256 * 4096,
                threads: 1
            }
        );
    }

    #[test]
    fn malformed_stat_is_none() {
        assert_eq!(parse_stat(b"", 4096), None);
        assert_eq!(parse_stat(b"12 (x) S 1 2", 4096), None);
        assert_eq!(parse_stat(b"(x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22", 4096), None);
    }

    #[test]
    fn own_stat_parses_on_linux() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let text = std::fs::read("/proc/self/stat").expect("read /proc/self/stat");
        let entry = parse_stat(&text, 4096).expect("parses");
        assert_eq!(entry.pid, std::process::id());
        assert!(entry.rss_bytes > 0);
        assert!(entry.threads >= 1);
    }
}
