//! `run-all --shard K/N`: the groups (profiles) of shard K of N, split
//! round robin by their index in the order given: group i goes to shard
//! (i mod N) + 1. Same profiles, same split; every group in exactly one shard.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub k: usize,
    pub n: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad =
            |why: &str| format!("{why}; write K/N with 1 <= K <= N, e.g. --shard 1/2 (got {s:?})");
        let (k, n) = s.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let k: usize = k.trim().parse().map_err(|_| bad("K is not a number"))?;
        let n: usize = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if n == 0 {
            return Err(bad("N is 0"));
        }
        if k == 0 || k > n {
            return Err(bad("K is out of range"));
        }
        Ok(Shard { k, n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl Shard {
    /// Whether the group at `index` (0-based, in the order given) is this shard's.
    pub fn has(&self, index: usize) -> bool {
        index % self.n == self.k - 1
    }

    /// This shard's items, in their order.
    pub fn pick<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items
            .iter()
            .enumerate()
            .filter(|(i, _)| self.has(*i))
            .map(|(_, t)| t.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n() {
        assert_eq!("1/2".parse::<Shard>(), Ok(Shard { k: 1, n: 2 }));
        assert_eq!("3/3".parse::<Shard>().unwrap().to_string(), "3/3");
        for (bad, why) in [
            ("0/2", "K is out of range"),
            ("3/2", "K is out of range"),
            ("1/0", "N is 0"),
            ("x", "no '/'"),
            ("a/2", "K is not a number"),
            ("1/b", "N is not a number"),
            ("-1/2", "K is not a number"),
        ] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains(why) && e.contains("--shard 1/2"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_shards_partition_the_groups_the_same_way_every_time() {
        for len in 0..8 {
            let items: Vec<usize> = (0..len).collect();
            for n in 1..5 {
                let shards: Vec<Vec<usize>> =
                    (1..=n).map(|k| Shard { k, n }.pick(&items)).collect();
                let mut all: Vec<usize> = shards.concat();
                all.sort();
                assert_eq!(
                    all, items,
                    "every group in exactly one shard ({len} of {n})"
                );
                let again: Vec<Vec<usize>> = (1..=n).map(|k| Shard { k, n }.pick(&items)).collect();
                assert_eq!(shards, again);
            }
        }
        let s = Shard { k: 2, n: 2 };
        assert_eq!(s.pick(&["a", "b", "c", "d", "e"]), ["b", "d"]);
        assert_eq!(Shard { k: 1, n: 1 }.pick(&["a"]), ["a"]);
        assert!(Shard { k: 2, n: 3 }.pick(&["a"]).is_empty());
    }
}
