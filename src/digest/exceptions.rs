//! The documented differences between a source tree and its restore.
//!
//! Three kinds, all printed with their reason, none of them "ignore a path":
//! - [`NOT_COMPARED`]: properties the digest never records at all;
//! - [`Exception`]: a difference in ONE field accepted under ONE condition;
//! - [`ExpectedFailure`]: a known kernel-side loss, reported by name as an
//!   expected failure (it does not fail the comparison, it is not hidden).

use serde::Serialize;

use super::parse::{Entry, Hole};

/// A property left out of the digest on purpose, with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NotCompared {
    pub what: &'static str,
    pub reason: &'static str,
}

/// Everything the digest does not record, printed once per report.
pub const NOT_COMPARED: &[NotCompared] = &[
    NotCompared {
        what: "inode numbers and generations",
        reason: "assigned by the receiving filesystem",
    },
    NotCompared {
        what: "ctime and birth time",
        reason: "not transferred by send/receive; the kernel sets them on the receiver",
    },
    NotCompared {
        what: "directory size and directory nlink",
        reason: "depend on the on-disk directory format, not on the tree's content",
    },
    NotCompared {
        what: "st_blocks and extent layout (sharing, compression)",
        reason: "extent sharing and compression are not preserved unless the stream carries them",
    },
    NotCompared {
        what: "inode flags (chattr)",
        reason: "most chattr flags are not transferred by send/receive",
    },
];

/// A named, one-field, one-condition tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exception {
    NestedSubvolumeNotSent,
    PreallocBecomesHole,
    PunchedHolesSentAsZeros,
    HolesNotEnforced,
    IgnoredXattr,
    AtimeNotPreserved,
}

/// The text a report prints for a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub name: &'static str,
    pub field: &'static str,
    pub condition: &'static str,
    pub reason: &'static str,
}

impl Exception {
    pub fn rule(self) -> Rule {
        match self {
            Self::NestedSubvolumeNotSent => Rule {
                name: "nested-subvolume-not-sent",
                field: "stub",
                condition: "the source lists a nested-subvolume stub at the path and the target has nothing there",
                reason: "send does not cross into nested subvolumes; the receiver never sees them",
            },
            Self::PreallocBecomesHole => Rule {
                name: "prealloc-becomes-hole",
                field: "holes",
                condition: "the target's holes cover all of the source's holes and the content hash is equal",
                reason: "preallocated extents are not sent, so they arrive as holes (prealloc past EOF vanishes)",
            },
            Self::PunchedHolesSentAsZeros => Rule {
                name: "punched-holes-sent-as-zeros",
                field: "holes",
                condition: "incremental v1 stream, the target's holes lie within the source's and the content hash is equal",
                reason: "v1 incremental streams write punched holes as zeros",
            },
            Self::HolesNotEnforced => Rule {
                name: "holes-not-enforced",
                field: "holes",
                condition: "the comparison is configured with enforce_holes = false",
                reason: "this restore path is not expected to preserve holes; content is still compared",
            },
            Self::IgnoredXattr => Rule {
                name: "ignored-xattr",
                field: "xattr:NAME",
                condition: "NAME is in the configured ignore_xattrs list",
                reason: "configured as set by the receiving system (for example security.selinux)",
            },
            Self::AtimeNotPreserved => Rule {
                name: "atime-not-preserved",
                field: "atime",
                condition: "the comparison is configured with ignore_atime = true",
                reason: "the restore target was read after receive, which moves atime",
            },
        }
    }
}

/// A known kernel-side loss, reported as an expected failure by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedFailure {
    SetuidLostOnChownOnly,
    RootMtimeAfterDeepChain,
}

/// Depth (path components) beyond which the root-mtime loss shows up.
pub const DEEP_CHAIN_DEPTH: usize = 64;

impl ExpectedFailure {
    pub fn rule(self) -> Rule {
        match self {
            Self::SetuidLostOnChownOnly => Rule {
                name: "setuid-lost-on-chown-only",
                field: "mode",
                condition: "incremental stream, the source has S_ISUID and the target's mode equals it without S_ISUID/S_ISGID",
                reason: "an incremental sends only chown when only the owner changed; the receiver's chown clears setuid",
            },
            Self::RootMtimeAfterDeepChain => Rule {
                name: "root-mtime-after-deep-chain",
                field: "mtime",
                condition: "path is the subvolume root, the source holds a path deeper than 64 components (full or incremental stream)",
                reason: "after a chain of 64+ new nested directories send does not emit the root's utimes",
            },
        }
    }
}

/// Whether `outer` holes cover every byte of `inner` holes.
pub fn holes_cover(outer: &[Hole], inner: &[Hole]) -> bool {
    let outer = merged(outer);
    merged(inner)
        .iter()
        .all(|&(start, end)| outer.iter().any(|&(s, e)| s <= start && end <= e))
}

fn merged(holes: &[Hole]) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = holes
        .iter()
        .filter(|(_, len)| *len > 0)
        .map(|&(s, len)| (s, s.saturating_add(len)))
        .collect();
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;

/// The setuid-on-chown loss: only S_ISUID (and possibly S_ISGID) vanished.
pub fn setuid_lost(source: &Entry, target: &Entry) -> bool {
    source.mode & S_ISUID != 0
        && (target.mode == source.mode & !S_ISUID
            || target.mode == source.mode & !(S_ISUID | S_ISGID))
        && (source.uid, source.gid) == (target.uid, target.gid)
}

/// Path depth in components (`.` is 0).
pub fn depth(path: &[u8]) -> usize {
    if path == b"." {
        0
    } else {
        path.iter().filter(|&&b| b == b'/').count() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hole_cover() {
        assert!(holes_cover(&[(0, 8192)], &[(0, 4096), (4096, 4096)]));
        assert!(holes_cover(&[(0, 4096), (4096, 4096)], &[(1000, 5000)]));
        assert!(!holes_cover(&[(0, 4096)], &[(0, 8192)]));
        assert!(holes_cover(&[], &[]));
        assert!(holes_cover(&[(0, 1)], &[]));
        assert!(!holes_cover(&[], &[(0, 1)]));
    }

    #[test]
    fn depth_counts_components() {
        assert_eq!(depth(b"."), 0);
        assert_eq!(depth(b"a"), 1);
        assert_eq!(depth(b"a/b/c"), 3);
    }

    #[test]
    fn every_rule_is_named_and_explained() {
        let all = [
            Exception::NestedSubvolumeNotSent,
            Exception::PreallocBecomesHole,
            Exception::PunchedHolesSentAsZeros,
            Exception::HolesNotEnforced,
            Exception::IgnoredXattr,
            Exception::AtimeNotPreserved,
        ]
        .map(Exception::rule)
        .into_iter()
        .chain(
            [
                ExpectedFailure::SetuidLostOnChownOnly,
                ExpectedFailure::RootMtimeAfterDeepChain,
            ]
            .map(ExpectedFailure::rule),
        );
        for rule in all {
            assert!(!rule.name.is_empty() && !rule.reason.is_empty() && !rule.condition.is_empty());
            assert!(
                !rule.field.contains(' '),
                "one field per rule: {}",
                rule.field
            );
        }
    }
}
