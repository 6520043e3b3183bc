//! Parser for the tree digest written by `guest/fixture.py digest`
//! (format version 1; the format is documented in that file's docstring).

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

use super::escape::unescape;

/// The only digest format version this parser understands.
pub const FORMAT_VERSION: u32 = 1;

/// Why a digest could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("empty digest: no header line")]
    NoHeader,
    #[error("line 1: not a vmharness digest header: {0:?}")]
    BadHeader(String),
    #[error("unsupported digest format version {0} (this build reads {FORMAT_VERSION})")]
    Version(u32),
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("digest is truncated: no #end line")]
    Truncated,
    #[error("#end line says {expected} {what}, the digest holds {found}")]
    Count {
        what: &'static str,
        expected: usize,
        found: usize,
    },
}

/// File type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FileType {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "f" => Self::File,
            "d" => Self::Dir,
            "l" => Self::Symlink,
            "c" => Self::CharDevice,
            "b" => Self::BlockDevice,
            "p" => Self::Fifo,
            "s" => Self::Socket,
            _ => return None,
        })
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::File => "file",
            Self::Dir => "dir",
            Self::Symlink => "symlink",
            Self::CharDevice => "char-device",
            Self::BlockDevice => "block-device",
            Self::Fifo => "fifo",
            Self::Socket => "socket",
        })
    }
}

/// A hole: `(start, length)` in bytes.
pub type Hole = (u64, u64);

/// One `E` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: FileType,
    /// Permission bits including suid, sgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub nlink: Option<u64>,
    pub size: Option<u64>,
    pub mtime_ns: i64,
    pub atime_ns: i64,
    pub rdev: Option<(u32, u32)>,
    pub target: Option<Vec<u8>>,
    pub hash: Option<String>,
    pub holes: Option<Vec<Hole>>,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Name of the hardlink group (its smallest path) for linked non-dirs.
    pub link: Option<Vec<u8>>,
}

/// What an `S` line says sits at a path the walk did not enter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StubKind {
    /// A live nested subvolume (inode 256 on another st_dev).
    Subvolume,
    /// The empty placeholder a snapshot holds for a nested subvolume (inode 2).
    EmptySubvolumeStub,
    /// Some other mount point.
    Mount,
}

impl fmt::Display for StubKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Subvolume => "subvolume",
            Self::EmptySubvolumeStub => "empty-subvolume-stub",
            Self::Mount => "mount",
        })
    }
}

/// One `H` line: a hardlink group as the walk saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkGroup {
    pub nlink: u64,
    pub members: u64,
}

/// A whole digest, keyed by raw path bytes (`.` is the root).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest {
    pub ignored_xattrs: Vec<Vec<u8>>,
    pub entries: BTreeMap<Vec<u8>, Entry>,
    pub stubs: BTreeMap<Vec<u8>, StubKind>,
    pub groups: BTreeMap<Vec<u8>, LinkGroup>,
}

/// Parses digest text; rejects unknown keys, missing keys and truncation.
pub fn parse(text: &str) -> Result<Digest, ParseError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (_, header) = lines.next().ok_or(ParseError::NoHeader)?;
    let mut digest = Digest {
        ignored_xattrs: parse_header(header)?,
        ..Digest::default()
    };
    let mut end: Option<(usize, usize, usize)> = None;
    for (n, line) in lines {
        let err = |message: String| ParseError::Line { line: n, message };
        if end.is_some() {
            return Err(err("content after #end".into()));
        }
        let mut fields = line.split('\t');
        let tag = fields.next().unwrap_or_default();
        match tag {
            "E" | "S" | "H" => {
                let path = fields.next().ok_or_else(|| err("missing path".into()))?;
                let path = unescape(path).map_err(|e| err(format!("path: {e}")))?;
                let kv = key_values(fields).map_err(err)?;
                let map = match tag {
                    "E" => {
                        let entry = parse_entry(&kv).map_err(err)?;
                        digest.entries.insert(path.clone(), entry).map(|_| ())
                    }
                    "S" => {
                        let kind = parse_stub(&kv).map_err(err)?;
                        digest.stubs.insert(path.clone(), kind).map(|_| ())
                    }
                    _ => {
                        let group = parse_group(&kv).map_err(err)?;
                        digest.groups.insert(path.clone(), group).map(|_| ())
                    }
                };
                if map.is_some() {
                    return Err(err(format!(
                        "duplicate {tag} record for {:?}",
                        super::escape::escape(&path)
                    )));
                }
            }
            "#end" => {
                let kv = key_values(fields).map_err(err)?;
                let count = |k: &str| -> Result<usize, ParseError> {
                    number(&kv, k).map_err(err).map(|v: u64| v as usize)
                };
                end = Some((count("entries")?, count("stubs")?, count("groups")?));
            }
            other => return Err(err(format!("unknown record type {other:?}"))),
        }
    }
    let (entries, stubs, groups) = end.ok_or(ParseError::Truncated)?;
    for (what, expected, found) in [
        ("entries", entries, digest.entries.len()),
        ("stubs", stubs, digest.stubs.len()),
        ("groups", groups, digest.groups.len()),
    ] {
        if expected != found {
            return Err(ParseError::Count {
                what,
                expected,
                found,
            });
        }
    }
    Ok(digest)
}

fn parse_header(line: &str) -> Result<Vec<Vec<u8>>, ParseError> {
    let mut fields = line.split('\t');
    if fields.next() != Some("#vmharness-digest") {
        return Err(ParseError::BadHeader(line.chars().take(80).collect()));
    }
    let kv = key_values(fields).map_err(|message| ParseError::Line { line: 1, message })?;
    let version: u32 = number(&kv, "v").map_err(|message| ParseError::Line { line: 1, message })?;
    if version != FORMAT_VERSION {
        return Err(ParseError::Version(version));
    }
    let ignored = kv.get("ignore-xattr").copied().unwrap_or_default();
    ignored
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            unescape(s).map_err(|e| ParseError::Line {
                line: 1,
                message: format!("ignore-xattr: {e}"),
            })
        })
        .collect()
}

type KeyValues<'a> = BTreeMap<&'a str, &'a str>;

fn key_values<'a>(fields: impl Iterator<Item = &'a str>) -> Result<KeyValues<'a>, String> {
    let mut kv = BTreeMap::new();
    for field in fields {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("field without '=': {field:?}"))?;
        if kv.insert(k, v).is_some() {
            return Err(format!("duplicate key {k:?}"));
        }
    }
    Ok(kv)
}

fn required<'a>(kv: &KeyValues<'a>, key: &str) -> Result<&'a str, String> {
    kv.get(key)
        .copied()
        .ok_or_else(|| format!("missing {key}="))
}

fn number<T: std::str::FromStr>(kv: &KeyValues<'_>, key: &str) -> Result<T, String> {
    let v = required(kv, key)?;
    v.parse()
        .map_err(|_| format!("{key}={v:?} is not a number"))
}

fn optional_number<T: std::str::FromStr>(
    kv: &KeyValues<'_>,
    key: &str,
) -> Result<Option<T>, String> {
    kv.contains_key(key).then(|| number(kv, key)).transpose()
}

const ENTRY_KEYS: &[&str] = &[
    "type", "mode", "owner", "nlink", "size", "mtime", "atime", "rdev", "target", "hash", "holes",
    "link",
];

fn parse_entry(kv: &KeyValues<'_>) -> Result<Entry, String> {
    if let Some(unknown) = kv
        .keys()
        .find(|k| !k.starts_with("xattr:") && !ENTRY_KEYS.contains(k))
    {
        return Err(format!("unknown key {unknown:?}"));
    }
    let code = required(kv, "type")?;
    let kind = FileType::from_code(code).ok_or_else(|| format!("unknown type {code:?}"))?;
    let mode_text = required(kv, "mode")?;
    let mode = u32::from_str_radix(mode_text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("mode={mode_text:?} is not 4 octal digits"))?;
    let owner = required(kv, "owner")?;
    let (uid, gid) = owner
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)))
        .ok_or_else(|| format!("owner={owner:?} is not uid:gid"))?;
    let rdev = kv
        .get("rdev")
        .map(|r| {
            r.split_once(':')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| format!("rdev={r:?} is not major:minor"))
        })
        .transpose()?;
    let target = kv
        .get("target")
        .map(|t| unescape(t).map_err(|e| format!("target: {e}")))
        .transpose()?;
    let link = kv
        .get("link")
        .map(|t| unescape(t).map_err(|e| format!("link: {e}")))
        .transpose()?;
    let holes = kv.get("holes").map(|h| parse_holes(h)).transpose()?;
    let mut xattrs = BTreeMap::new();
    for (k, v) in kv.iter().filter(|(k, _)| k.starts_with("xattr:")) {
        let name = unescape(&k["xattr:".len()..]).map_err(|e| format!("{k}: {e}"))?;
        let value = hex::decode(v).map_err(|e| format!("{k}: value is not hex: {e}"))?;
        xattrs.insert(name, value);
    }
    let entry = Entry {
        kind,
        mode,
        uid,
        gid,
        nlink: optional_number(kv, "nlink")?,
        size: optional_number(kv, "size")?,
        mtime_ns: number(kv, "mtime")?,
        atime_ns: number(kv, "atime")?,
        rdev,
        target,
        hash: kv.get("hash").map(|h| h.to_string()),
        holes,
        xattrs,
        link,
    };
    check_shape(&entry)?;
    Ok(entry)
}

/// Keys that must be present exactly for the types they apply to.
fn check_shape(e: &Entry) -> Result<(), String> {
    let is = |kinds: &[FileType]| kinds.contains(&e.kind);
    let rules: [(&str, bool, bool); 6] = [
        ("nlink", e.nlink.is_some(), e.kind != FileType::Dir),
        (
            "size",
            e.size.is_some(),
            is(&[FileType::File, FileType::Symlink]),
        ),
        (
            "rdev",
            e.rdev.is_some(),
            is(&[FileType::CharDevice, FileType::BlockDevice]),
        ),
        ("target", e.target.is_some(), e.kind == FileType::Symlink),
        ("hash", e.hash.is_some(), e.kind == FileType::File),
        ("holes", e.holes.is_some(), e.kind == FileType::File),
    ];
    for (key, present, wanted) in rules {
        if present != wanted {
            let verb = if wanted { "missing" } else { "unexpected" };
            return Err(format!("{verb} {key}= for a {}", e.kind));
        }
    }
    Ok(())
}

fn parse_holes(text: &str) -> Result<Vec<Hole>, String> {
    if text == "-" {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|r| {
            r.split_once('+')
                .and_then(|(s, l)| Some((s.parse().ok()?, l.parse().ok()?)))
                .ok_or_else(|| format!("holes: {r:?} is not start+len"))
        })
        .collect()
}

fn parse_stub(kv: &KeyValues<'_>) -> Result<StubKind, String> {
    match required(kv, "kind")? {
        "subvolume" => Ok(StubKind::Subvolume),
        "empty-subvolume-stub" => Ok(StubKind::EmptySubvolumeStub),
        "mount" => Ok(StubKind::Mount),
        other => Err(format!("unknown stub kind {other:?}")),
    }
}

fn parse_group(kv: &KeyValues<'_>) -> Result<LinkGroup, String> {
    Ok(LinkGroup {
        nlink: number(kv, "nlink")?,
        members: number(kv, "members")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = "#vmharness-digest\tv=1\tblock=4096\thash=sha256\tignore-xattr=security.selinux\n\
E\t.\ttype=d\tmode=0755\towner=0:0\tmtime=1500000000000000001\tatime=1500000000000000002\n\
E\tdir with\\x0anewline\ttype=d\tmode=1777\towner=1234:5678\tmtime=5\tatime=6\txattr:user.e\\x3dq=\txattr:user.bin=00ff\n\
E\tf\ttype=f\tmode=4755\towner=2147483653:4294967294\tnlink=2\tsize=10000\tmtime=7\tatime=8\thash=abc\tholes=0+4096,8192+1808\tlink=f\n\
E\tg\ttype=f\tmode=0644\towner=0:0\tnlink=2\tsize=10000\tmtime=7\tatime=8\thash=abc\tholes=-\tlink=f\n\
E\tl\ttype=l\tmode=0777\towner=0:0\tnlink=1\tsize=3\tmtime=9\tatime=10\ttarget=\\x5cn\\xff\n\
E\tc\ttype=c\tmode=0600\towner=0:0\tnlink=1\tmtime=11\tatime=12\trdev=4095:1048575\n\
S\tsub\tkind=empty-subvolume-stub\n\
H\tf\tnlink=2\tmembers=2\n\
#end\tentries=6\tstubs=1\tgroups=1\n";

    #[test]
    fn parses_every_field() {
        let d = parse(SAMPLE).unwrap();
        assert_eq!(d.ignored_xattrs, vec![b"security.selinux".to_vec()]);
        assert_eq!(d.entries.len(), 6);
        let dir = &d.entries[b"dir with\nnewline".as_slice()];
        assert_eq!(dir.mode, 0o1777);
        assert_eq!(dir.xattrs[b"user.e=q".as_slice()], Vec::<u8>::new());
        assert_eq!(dir.xattrs[b"user.bin".as_slice()], vec![0, 255]);
        let f = &d.entries[b"f".as_slice()];
        assert_eq!((f.uid, f.gid), (2_147_483_653, 4_294_967_294));
        assert_eq!(f.holes, Some(vec![(0, 4096), (8192, 1808)]));
        assert_eq!(f.link.as_deref(), Some(b"f".as_slice()));
        assert_eq!(d.entries[b"g".as_slice()].holes, Some(vec![]));
        assert_eq!(
            d.entries[b"l".as_slice()].target.as_deref(),
            Some(b"\\n\xff".as_slice())
        );
        assert_eq!(d.entries[b"c".as_slice()].rdev, Some((4095, 1_048_575)));
        assert_eq!(d.stubs[b"sub".as_slice()], StubKind::EmptySubvolumeStub);
        assert_eq!(
            d.groups[b"f".as_slice()],
            LinkGroup {
                nlink: 2,
                members: 2
            }
        );
    }

    #[test]
    fn rejects_truncation_and_bad_counts() {
        let cut = SAMPLE.rsplit_once("#end").unwrap().0;
        assert_eq!(parse(cut), Err(ParseError::Truncated));
        let wrong = SAMPLE.replace("entries=6", "entries=7");
        assert!(matches!(
            parse(&wrong),
            Err(ParseError::Count {
                what: "entries",
                ..
            })
        ));
    }

    #[test]
    fn rejects_bad_lines_with_line_numbers() {
        let cases = [
            (
                "mode=0755\towner=0:0\tmtime",
                "mode=0755\towner=0:0\tcolor=red\tmtime",
            ),
            ("type=c", "type=q"),
            ("mode=0600", "mode=0900"),
            ("owner=1234:5678", "owner=1234"),
            ("holes=-", "holes=1-2"),
            ("\trdev=4095:1048575", ""),
            ("target=\\x5cn", "target=\\x5"),
        ];
        for (from, to) in cases {
            let bad = SAMPLE.replacen(from, to, 1);
            assert_ne!(bad, SAMPLE, "{from}");
            match parse(&bad) {
                Err(ParseError::Line { line, .. }) => assert!(line > 1, "{from}"),
                other => panic!("{from}: {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_other_headers_and_versions() {
        assert_eq!(parse(""), Err(ParseError::NoHeader));
        assert!(matches!(parse("hello\n"), Err(ParseError::BadHeader(_))));
        let v2 = SAMPLE.replacen("v=1", "v=2", 1);
        assert_eq!(parse(&v2), Err(ParseError::Version(2)));
    }
}
