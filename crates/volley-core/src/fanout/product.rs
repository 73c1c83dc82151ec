//! The cartesian product of `:::` groups, enumerated lazily by index so that a
//! million combinations cost nothing until they run.

/// All combinations of one item from each group; the last group varies fastest
/// (as in GNU parallel).
#[derive(Debug, Clone)]
pub struct Product {
    groups: Vec<Vec<String>>,
    len: usize,
}

impl Product {
    pub fn new(groups: Vec<Vec<String>>) -> Self {
        let len = if groups.is_empty() {
            0
        } else {
            groups.iter().try_fold(1usize, |acc, g| acc.checked_mul(g.len())).unwrap_or(usize::MAX)
        };
        Product { groups, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The combination at `index` (0-based), one item per group.
    pub fn get(&self, index: usize) -> Option<Vec<&str>> {
        if index >= self.len {
            return None;
        }
        let mut rest = index;
        let mut combination = vec![""; self.groups.len()];
        for (slot, group) in self.groups.iter().enumerate().rev() {
            combination[slot] = &group[rest % group.len()];
            rest /= group.len();
        }
        Some(combination)
    }
}

#[cfg(test)]
mod tests {
    use super::Product;

    fn group(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn last_group_varies_fastest() {
        let p = Product::new(vec![group(&["a", "b"]), group(&["1", "2", "3"])]);
        assert_eq!(p.len(), 6);
        let all: Vec<Vec<&str>> = (0..p.len()).filter_map(|i| p.get(i)).collect();
        assert_eq!(all[0], ["a", "1"]);
        assert_eq!(all[2], ["a", "3"]);
        assert_eq!(all[3], ["b", "1"]);
        assert!(p.get(6).is_none());
    }

    #[test]
    fn an_empty_group_gives_nothing() {
        assert!(Product::new(vec![group(&["a"]), vec![]]).is_empty());
        assert!(Product::new(vec![]).is_empty());
    }
}
