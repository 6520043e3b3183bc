//! Field-by-field comparison of a source digest with a restored one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Serialize, Serializer};

use super::escape::escape;
use super::exceptions::{self, Exception, ExpectedFailure, DEEP_CHAIN_DEPTH};
use super::parse::{Digest, Entry, Hole, LinkGroup, StubKind};

/// How the target was produced, and what the comparison tolerates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareOptions {
    /// The last stream received was incremental (enables the incremental rules).
    pub incremental: bool,
    /// Send stream protocol version (1 writes punched holes as zeros).
    pub send_protocol: u8,
    /// Compare hole maps (with the prealloc and v1 exceptions) or not at all.
    pub enforce_holes: bool,
    /// Xattr names whose differences are accepted (e.g. `security.selinux`).
    pub ignore_xattrs: BTreeSet<Vec<u8>>,
    /// Accept atime differences (the target was read after receive).
    pub ignore_atime: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            incremental: false,
            send_protocol: 1,
            enforce_holes: true,
            ignore_xattrs: BTreeSet::new(),
            ignore_atime: false,
        }
    }
}

impl CompareOptions {
    /// The exceptions these options make available, in report order.
    pub fn active_exceptions(&self) -> Vec<Exception> {
        let mut out = vec![Exception::NestedSubvolumeNotSent];
        if self.enforce_holes {
            out.push(Exception::PreallocBecomesHole);
            if self.incremental && self.send_protocol == 1 {
                out.push(Exception::PunchedHolesSentAsZeros);
            }
        } else {
            out.push(Exception::HolesNotEnforced);
        }
        if !self.ignore_xattrs.is_empty() {
            out.push(Exception::IgnoredXattr);
        }
        if self.ignore_atime {
            out.push(Exception::AtimeNotPreserved);
        }
        out
    }
}

/// A compared property of an entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// The path exists on one side only.
    Presence,
    Type,
    Mode,
    Owner,
    Nlink,
    Size,
    Mtime,
    Atime,
    Rdev,
    Target,
    Hash,
    Holes,
    /// One xattr, by escaped name.
    Xattr(String),
    /// Hardlink group membership (the group's name).
    Link,
    /// A hardlink group whose member count differs from its nlink.
    LinkGroup,
    /// A nested-subvolume stub or mount point.
    Stub,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Xattr(name) => return write!(f, "xattr:{name}"),
            Self::Presence => "presence",
            Self::Type => "type",
            Self::Mode => "mode",
            Self::Owner => "owner",
            Self::Nlink => "nlink",
            Self::Size => "size",
            Self::Mtime => "mtime",
            Self::Atime => "atime",
            Self::Rdev => "rdev",
            Self::Target => "target",
            Self::Hash => "hash",
            Self::Holes => "holes",
            Self::Link => "link",
            Self::LinkGroup => "link-group",
            Self::Stub => "stub",
        };
        f.write_str(name)
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One differing field of one path, with both values as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// Escaped path (`.` is the root).
    pub path: String,
    pub field: Field,
    pub source: String,
    pub target: String,
    /// Extra context, e.g. a time delta or how many entries below a missing dir.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A difference accepted by a documented exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Excused {
    pub exception: Exception,
    pub mismatch: Mismatch,
}

/// A difference matching a known kernel loss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedHit {
    pub case: ExpectedFailure,
    pub mismatch: Mismatch,
}

/// The outcome of [`compare`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    pub source_entries: usize,
    pub target_entries: usize,
    pub active_exceptions: Vec<Exception>,
    pub mismatches: Vec<Mismatch>,
    pub excused: Vec<Excused>,
    pub expected_failures: Vec<ExpectedHit>,
}

impl Comparison {
    /// True when nothing differs beyond exceptions and expected failures.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Compares `target` (the restore) with `source` field by field.
pub fn compare(source: &Digest, target: &Digest, options: &CompareOptions) -> Comparison {
    let mut out = Collector {
        options,
        source_max_depth: source
            .entries
            .keys()
            .map(|p| exceptions::depth(p))
            .max()
            .unwrap_or(0),
        comparison: Comparison {
            source_entries: source.entries.len(),
            target_entries: target.entries.len(),
            active_exceptions: options.active_exceptions(),
            mismatches: Vec::new(),
            excused: Vec::new(),
            expected_failures: Vec::new(),
        },
    };
    compare_presence(source, target, &mut out);
    for (path, s) in &source.entries {
        if let Some(t) = target.entries.get(path) {
            compare_entry(path, s, t, &mut out);
        }
    }
    compare_stubs(source, target, &mut out);
    compare_groups(&source.groups, &target.groups, &mut out);
    out.comparison
}

struct Collector<'a> {
    options: &'a CompareOptions,
    source_max_depth: usize,
    comparison: Comparison,
}

impl Collector<'_> {
    fn push(&mut self, m: Mismatch) {
        self.comparison.mismatches.push(m);
    }

    fn excuse(&mut self, exception: Exception, m: Mismatch) {
        self.comparison.excused.push(Excused {
            exception,
            mismatch: m,
        });
    }

    fn expect(&mut self, case: ExpectedFailure, m: Mismatch) {
        self.comparison
            .expected_failures
            .push(ExpectedHit { case, mismatch: m });
    }
}

fn mismatch(path: &[u8], field: Field, source: String, target: String) -> Mismatch {
    Mismatch {
        path: escape(path),
        field,
        source,
        target,
        note: None,
    }
}

const ABSENT: &str = "(absent)";

/// Paths on one side only; a missing directory's descendants are folded into it.
fn compare_presence(source: &Digest, target: &Digest, out: &mut Collector<'_>) {
    fn one_side<'a>(a: &'a Digest, b: &Digest) -> Vec<&'a Vec<u8>> {
        a.entries
            .keys()
            .filter(|p| !b.entries.contains_key(*p) && !b.stubs.contains_key(*p))
            .collect()
    }
    for (paths, from_source, side) in [
        (one_side(source, target), true, source),
        (one_side(target, source), false, target),
    ] {
        let set: BTreeSet<&[u8]> = paths.iter().map(|p| p.as_slice()).collect();
        let mut below: BTreeMap<&[u8], usize> = BTreeMap::new();
        let mut tops = Vec::new();
        for p in &paths {
            match ancestors(p).find(|a| set.contains(a)) {
                // ancestors() runs from the root down, so this is the topmost one
                Some(top) => *below.entry(top).or_default() += 1,
                None => tops.push(p.as_slice()),
            }
        }
        for p in tops {
            let what = side.entries[p].kind.to_string();
            let (s, t) = if from_source {
                (what, ABSENT.to_string())
            } else {
                (ABSENT.to_string(), what)
            };
            let mut m = mismatch(p, Field::Presence, s, t);
            if let Some(n) = below.get(p) {
                m.note = Some(format!("and {n} entries below it"));
            }
            out.push(m);
        }
    }
}

fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    let cuts: Vec<usize> = path
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'/')
        .map(|(i, _)| i)
        .collect();
    cuts.into_iter().map(move |i| &path[..i])
}

fn compare_entry(path: &[u8], s: &Entry, t: &Entry, out: &mut Collector<'_>) {
    if s.kind != t.kind {
        out.push(mismatch(
            path,
            Field::Type,
            s.kind.to_string(),
            t.kind.to_string(),
        ));
        return;
    }
    if s.mode != t.mode {
        let m = mismatch(
            path,
            Field::Mode,
            format!("{:04o}", s.mode),
            format!("{:04o}", t.mode),
        );
        if out.options.incremental && exceptions::setuid_lost(s, t) {
            out.expect(ExpectedFailure::SetuidLostOnChownOnly, m);
        } else {
            out.push(m);
        }
    }
    if (s.uid, s.gid) != (t.uid, t.gid) {
        out.push(mismatch(
            path,
            Field::Owner,
            format!("{}:{}", s.uid, s.gid),
            format!("{}:{}", t.uid, t.gid),
        ));
    }
    plain(path, Field::Nlink, &s.nlink, &t.nlink, out);
    plain(path, Field::Size, &s.size, &t.size, out);
    if s.mtime_ns != t.mtime_ns {
        let m = time_mismatch(path, Field::Mtime, s.mtime_ns, t.mtime_ns);
        // Full streams lose it too (seen: a full of a tree holding the chain).
        if path == b"." && out.source_max_depth > DEEP_CHAIN_DEPTH {
            out.expect(ExpectedFailure::RootMtimeAfterDeepChain, m);
        } else {
            out.push(m);
        }
    }
    if s.atime_ns != t.atime_ns {
        let m = time_mismatch(path, Field::Atime, s.atime_ns, t.atime_ns);
        if out.options.ignore_atime {
            out.excuse(Exception::AtimeNotPreserved, m);
        } else {
            out.push(m);
        }
    }
    if s.rdev != t.rdev {
        let show =
            |r: Option<(u32, u32)>| r.map_or(ABSENT.to_string(), |(a, b)| format!("{a}:{b}"));
        out.push(mismatch(path, Field::Rdev, show(s.rdev), show(t.rdev)));
    }
    if s.target != t.target {
        let show = |v: &Option<Vec<u8>>| v.as_deref().map_or(ABSENT.to_string(), escape);
        out.push(mismatch(
            path,
            Field::Target,
            show(&s.target),
            show(&t.target),
        ));
    }
    plain(path, Field::Hash, &s.hash, &t.hash, out);
    compare_holes(path, s, t, out);
    compare_xattrs(path, s, t, out);
    if s.link != t.link {
        let show = |v: &Option<Vec<u8>>| v.as_deref().map_or("(not linked)".to_string(), escape);
        out.push(mismatch(path, Field::Link, show(&s.link), show(&t.link)));
    }
}

fn plain<T: PartialEq + fmt::Display>(
    path: &[u8],
    field: Field,
    s: &Option<T>,
    t: &Option<T>,
    out: &mut Collector<'_>,
) {
    if s != t {
        let show = |v: &Option<T>| v.as_ref().map_or(ABSENT.to_string(), |v| v.to_string());
        out.push(mismatch(path, field, show(s), show(t)));
    }
}

fn time_mismatch(path: &[u8], field: Field, s: i64, t: i64) -> Mismatch {
    let mut m = mismatch(path, field, s.to_string(), t.to_string());
    let delta = i128::from(t) - i128::from(s);
    m.note = Some(format!(
        "target is {} ns {}",
        delta.abs(),
        if delta > 0 { "later" } else { "earlier" }
    ));
    m
}

fn show_holes(h: &Option<Vec<Hole>>) -> String {
    match h.as_deref() {
        None => ABSENT.to_string(),
        Some([]) => "-".to_string(),
        Some(list) => list
            .iter()
            .map(|(s, l)| format!("{s}+{l}"))
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn compare_holes(path: &[u8], s: &Entry, t: &Entry, out: &mut Collector<'_>) {
    if s.holes == t.holes {
        return;
    }
    let m = mismatch(
        path,
        Field::Holes,
        show_holes(&s.holes),
        show_holes(&t.holes),
    );
    let (Some(sh), Some(th)) = (s.holes.as_deref(), t.holes.as_deref()) else {
        out.push(m);
        return;
    };
    let same_content = s.hash == t.hash;
    let rule = if !out.options.enforce_holes {
        Some(Exception::HolesNotEnforced)
    } else if same_content && exceptions::holes_cover(th, sh) {
        Some(Exception::PreallocBecomesHole)
    } else if same_content
        && out.options.incremental
        && out.options.send_protocol == 1
        && exceptions::holes_cover(sh, th)
    {
        Some(Exception::PunchedHolesSentAsZeros)
    } else {
        None
    };
    match rule {
        Some(e) => out.excuse(e, m),
        None => out.push(m),
    }
}

const XATTR_SHOWN_BYTES: usize = 32;

fn show_xattr(v: Option<&Vec<u8>>) -> String {
    match v {
        None => ABSENT.to_string(),
        Some(v) if v.len() > XATTR_SHOWN_BYTES => {
            format!(
                "{}... ({} bytes)",
                hex::encode(&v[..XATTR_SHOWN_BYTES]),
                v.len()
            )
        }
        Some(v) => format!("0x{}", hex::encode(v)),
    }
}

fn compare_xattrs(path: &[u8], s: &Entry, t: &Entry, out: &mut Collector<'_>) {
    let names: BTreeSet<&Vec<u8>> = s.xattrs.keys().chain(t.xattrs.keys()).collect();
    for name in names {
        let (sv, tv) = (s.xattrs.get(name), t.xattrs.get(name));
        if sv == tv {
            continue;
        }
        let m = mismatch(
            path,
            Field::Xattr(escape(name)),
            show_xattr(sv),
            show_xattr(tv),
        );
        if out.options.ignore_xattrs.contains(name) {
            out.excuse(Exception::IgnoredXattr, m);
        } else {
            out.push(m);
        }
    }
}

fn compare_stubs(source: &Digest, target: &Digest, out: &mut Collector<'_>) {
    let describe = |d: &Digest, p: &[u8]| -> String {
        match (d.stubs.get(p), d.entries.get(p)) {
            (Some(kind), _) => kind.to_string(),
            (None, Some(e)) => format!("{} (entry)", e.kind),
            (None, None) => ABSENT.to_string(),
        }
    };
    let paths: BTreeSet<&Vec<u8>> = source.stubs.keys().chain(target.stubs.keys()).collect();
    for p in paths {
        let (s, t) = (source.stubs.get(p), target.stubs.get(p));
        if s == t {
            continue;
        }
        let m = mismatch(p, Field::Stub, describe(source, p), describe(target, p));
        let sent_nothing = !target.entries.contains_key(p) && t.is_none();
        match s {
            Some(StubKind::Subvolume | StubKind::EmptySubvolumeStub) if sent_nothing => {
                out.excuse(Exception::NestedSubvolumeNotSent, m)
            }
            _ => out.push(m),
        }
    }
}

fn compare_groups(
    source: &BTreeMap<Vec<u8>, LinkGroup>,
    target: &BTreeMap<Vec<u8>, LinkGroup>,
    out: &mut Collector<'_>,
) {
    let show = |g: Option<&LinkGroup>| {
        g.map_or(ABSENT.to_string(), |g| {
            format!("{} of nlink {}", g.members, g.nlink)
        })
    };
    let broken = |g: &&LinkGroup| g.members != g.nlink;
    let paths: BTreeSet<&Vec<u8>> = source
        .iter()
        .chain(target.iter())
        .filter(|(_, g)| broken(g))
        .map(|(p, _)| p)
        .collect();
    for p in paths {
        let mut m = mismatch(
            p,
            Field::LinkGroup,
            show(source.get(p)),
            show(target.get(p)),
        );
        m.note = Some("group size differs from nlink: links outside the tree".into());
        out.push(m);
    }
}
