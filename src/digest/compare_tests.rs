//! Hand-written digest snippets: one test per field, exception and
//! expected failure.

use super::compare::{compare, CompareOptions, Comparison, Field, Mismatch};
use super::exceptions::{Exception, ExpectedFailure};
use super::parse::{parse, Digest};
use super::report::{render, ReportLimits};

const ROOT: &str = "E\t.\ttype=d\tmode=0755\towner=0:0\tmtime=100\tatime=200";
const DIR: &str = "E\td\ttype=d\tmode=0755\towner=0:0\tmtime=110\tatime=210";
const FILE: &str = "E\td/f\ttype=f\tmode=0644\towner=0:0\tnlink=1\tsize=10000\tmtime=300\tatime=400\thash=aaaa\tholes=4096+4096\txattr:user.a=01";
const SETUID: &str = "E\td/suid\ttype=f\tmode=4755\towner=1234:5678\tnlink=1\tsize=1\tmtime=1\tatime=2\thash=bb\tholes=-";
const LINK: &str =
    "E\td/l\ttype=l\tmode=0777\towner=0:0\tnlink=1\tsize=1\tmtime=5\tatime=6\ttarget=f";
const DEV: &str = "E\td/c\ttype=c\tmode=0600\towner=0:0\tnlink=1\tmtime=7\tatime=8\trdev=1:3";
const HL1: &str = "E\td/h1\ttype=f\tmode=0644\towner=0:0\tnlink=2\tsize=1\tmtime=9\tatime=9\thash=cc\tholes=-\tlink=d/h1";
const HL2: &str = "E\td/h2\ttype=f\tmode=0644\towner=0:0\tnlink=2\tsize=1\tmtime=9\tatime=9\thash=cc\tholes=-\tlink=d/h1";
const GROUP: &str = "H\td/h1\tnlink=2\tmembers=2";
const STUB: &str = "S\td/nested\tkind=empty-subvolume-stub";

fn digest(lines: &[&str]) -> Digest {
    let count = |tag: &str| lines.iter().filter(|l| l.starts_with(tag)).count();
    let text = format!(
        "#vmharness-digest\tv=1\tblock=4096\thash=sha256\tignore-xattr=\n{}\n#end\tentries={}\tstubs={}\tgroups={}\n",
        lines.join("\n"),
        count("E\t"),
        count("S\t"),
        count("H\t"),
    );
    match parse(&text) {
        Ok(d) => d,
        Err(e) => panic!("bad test digest: {e}\n{text}"),
    }
}

fn base() -> Vec<&'static str> {
    vec![ROOT, DIR, FILE, SETUID, LINK, DEV, HL1, HL2, GROUP, STUB]
}

/// Target = base with one replacement applied to one line.
fn with(line: &str, from: &str, to: &str) -> Vec<String> {
    base()
        .into_iter()
        .map(|l| {
            if l == line {
                l.replacen(from, to, 1)
            } else {
                l.to_string()
            }
        })
        .collect()
}

fn run(target: &[String], options: &CompareOptions) -> Comparison {
    let t: Vec<&str> = target.iter().map(String::as_str).collect();
    compare(&digest(&base()), &digest(&t), options)
}

fn only_mismatch(c: &Comparison) -> &Mismatch {
    assert_eq!(c.mismatches.len(), 1, "{:#?}", c.mismatches);
    &c.mismatches[0]
}

fn full() -> CompareOptions {
    CompareOptions::default()
}

fn incremental() -> CompareOptions {
    CompareOptions {
        incremental: true,
        ..CompareOptions::default()
    }
}

fn expect_one(
    line: &str,
    from: &str,
    to: &str,
    field: Field,
    path: &str,
    source: &str,
    target: &str,
) {
    let c = run(&with(line, from, to), &full());
    let m = only_mismatch(&c);
    assert_eq!(
        (&m.field, m.path.as_str()),
        (&field, path),
        "{from} -> {to}"
    );
    assert_eq!(
        (m.source.as_str(), m.target.as_str()),
        (source, target),
        "{from} -> {to}"
    );
    assert!(c.excused.is_empty() && c.expected_failures.is_empty());
    assert!(!c.passed());
}

#[test]
fn identical_digests_pass() {
    let target: Vec<String> = base().into_iter().map(str::to_string).collect();
    let c = run(&target, &full());
    assert!(c.passed(), "{:#?}", c.mismatches);
    assert!(c.excused.is_empty());
}

#[test]
fn each_field_is_flagged_with_both_values() {
    expect_one(
        FILE,
        "mode=0644",
        "mode=0645",
        Field::Mode,
        "d/f",
        "0644",
        "0645",
    );
    expect_one(
        FILE,
        "owner=0:0",
        "owner=0:1",
        Field::Owner,
        "d/f",
        "0:0",
        "0:1",
    );
    expect_one(
        FILE,
        "size=10000",
        "size=10001",
        Field::Size,
        "d/f",
        "10000",
        "10001",
    );
    expect_one(
        FILE,
        "mtime=300",
        "mtime=301",
        Field::Mtime,
        "d/f",
        "300",
        "301",
    );
    expect_one(
        FILE,
        "atime=400",
        "atime=399",
        Field::Atime,
        "d/f",
        "400",
        "399",
    );
    expect_one(
        FILE,
        "hash=aaaa",
        "hash=aaab",
        Field::Hash,
        "d/f",
        "aaaa",
        "aaab",
    );
    expect_one(
        FILE,
        "holes=4096+4096",
        "holes=0+4096",
        Field::Holes,
        "d/f",
        "4096+4096",
        "0+4096",
    );
    expect_one(
        DEV,
        "rdev=1:3",
        "rdev=1:4",
        Field::Rdev,
        "d/c",
        "1:3",
        "1:4",
    );
    expect_one(DEV, "nlink=1", "nlink=2", Field::Nlink, "d/c", "1", "2");
    expect_one(LINK, "target=f", "target=g", Field::Target, "d/l", "f", "g");
    expect_one(
        DIR,
        "mtime=110",
        "mtime=111",
        Field::Mtime,
        "d",
        "110",
        "111",
    );
    expect_one(
        ROOT,
        "mtime=100",
        "mtime=99",
        Field::Mtime,
        ".",
        "100",
        "99",
    );
}

#[test]
fn one_nanosecond_is_reported_with_its_delta() {
    let c = run(&with(FILE, "mtime=300", "mtime=301"), &full());
    assert_eq!(
        only_mismatch(&c).note.as_deref(),
        Some("target is 1 ns later")
    );
}

#[test]
fn type_change_suppresses_the_other_fields() {
    let fifo = "E\td/f\ttype=p\tmode=0600\towner=1:1\tnlink=1\tmtime=1\tatime=1";
    let target: Vec<String> = base()
        .into_iter()
        .map(|l| {
            if l == FILE {
                fifo.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    let m = only_mismatch(&run(&target, &full())).clone();
    assert_eq!(
        (m.field, m.source.as_str(), m.target.as_str()),
        (Field::Type, "file", "fifo")
    );
}

#[test]
fn xattrs_changed_dropped_and_added() {
    expect_one(
        FILE,
        "xattr:user.a=01",
        "xattr:user.a=02",
        Field::Xattr("user.a".into()),
        "d/f",
        "0x01",
        "0x02",
    );
    expect_one(
        FILE,
        "\txattr:user.a=01",
        "",
        Field::Xattr("user.a".into()),
        "d/f",
        "0x01",
        "(absent)",
    );
    expect_one(
        DIR,
        "atime=210",
        "atime=210\txattr:user.new=",
        Field::Xattr("user.new".into()),
        "d",
        "(absent)",
        "0x",
    );
    let long = format!("xattr:user.a={}", "ab".repeat(100));
    let c = run(&with(FILE, "xattr:user.a=01", &long), &full());
    assert!(only_mismatch(&c).target.ends_with("... (100 bytes)"));
}

#[test]
fn presence_folds_a_missing_directory() {
    let target: Vec<String> = vec![ROOT.to_string()];
    let c = run(&target, &full());
    let presence: Vec<&Mismatch> = c
        .mismatches
        .iter()
        .filter(|m| m.field == Field::Presence)
        .collect();
    assert_eq!(presence.len(), 1, "{presence:#?}");
    assert_eq!(
        (presence[0].path.as_str(), presence[0].target.as_str()),
        ("d", "(absent)")
    );
    assert_eq!(presence[0].note.as_deref(), Some("and 6 entries below it"));
    let mut extra = with(ROOT, "", "");
    extra.push("E\td/new\ttype=p\tmode=0600\towner=0:0\tnlink=1\tmtime=1\tatime=1".into());
    let m = only_mismatch(&run(&extra, &full())).clone();
    assert_eq!(
        (m.path.as_str(), m.source.as_str(), m.target.as_str()),
        ("d/new", "(absent)", "fifo")
    );
}

#[test]
fn split_hardlink_is_flagged_in_link_and_nlink() {
    let mut target = with(HL2, "nlink=2", "nlink=1");
    for l in &mut target {
        if l.starts_with("E\td/h2") {
            *l = l.replace("\tlink=d/h1", "");
        }
        if l.starts_with("E\td/h1") {
            *l = l.replace("nlink=2", "nlink=1").replace("\tlink=d/h1", "");
        }
    }
    target.retain(|l| !l.starts_with("H\t"));
    let c = run(&target, &full());
    let fields: Vec<String> = c
        .mismatches
        .iter()
        .map(|m| format!("{}:{}", m.path, m.field))
        .collect();
    assert_eq!(
        fields,
        ["d/h1:nlink", "d/h1:link", "d/h2:nlink", "d/h2:link"]
    );
}

#[test]
fn link_group_smaller_than_nlink_is_flagged() {
    let c = run(&with(GROUP, "members=2", "members=1"), &full());
    let m = only_mismatch(&c);
    assert_eq!(
        (&m.field, m.target.as_str()),
        (&Field::LinkGroup, "1 of nlink 2")
    );
}

#[test]
fn missing_nested_subvolume_is_an_exception_not_a_mismatch() {
    let mut target = with(ROOT, "", "");
    target.retain(|l| !l.starts_with("S\t"));
    let c = run(&target, &full());
    assert!(c.passed(), "{:#?}", c.mismatches);
    assert_eq!(c.excused.len(), 1);
    assert_eq!(c.excused[0].exception, Exception::NestedSubvolumeNotSent);
    assert_eq!(c.excused[0].mismatch.field, Field::Stub);
    // a plain directory in its place is not excused
    let mut dir = target.clone();
    dir.push("E\td/nested\ttype=d\tmode=0755\towner=0:0\tmtime=1\tatime=1".into());
    let c = run(&dir, &full());
    assert_eq!(only_mismatch(&c).field, Field::Stub);
    // nor is a stub of another kind
    let c = run(&with(STUB, "empty-subvolume-stub", "mount"), &full());
    assert_eq!(only_mismatch(&c).field, Field::Stub);
}

#[test]
fn more_holes_with_equal_content_is_prealloc() {
    let c = run(
        &with(FILE, "holes=4096+4096", "holes=4096+4096,9000+1000"),
        &full(),
    );
    assert!(c.passed(), "{:#?}", c.mismatches);
    assert_eq!(c.excused[0].exception, Exception::PreallocBecomesHole);
    // not when the content differs too
    let changed = with(FILE, "holes=4096+4096\t", "holes=0+9000\t");
    let changed: Vec<String> = changed
        .into_iter()
        .map(|l| l.replace("hash=aaaa", "hash=ffff"))
        .collect();
    let c = run(&changed, &full());
    assert_eq!(c.mismatches.len(), 2);
}

#[test]
fn a_filled_hole_fails_a_full_stream_and_is_excused_for_v1_incrementals() {
    let filled = with(FILE, "holes=4096+4096", "holes=4096+2048");
    let c = run(&filled, &full());
    assert_eq!(only_mismatch(&c).field, Field::Holes);
    let c = run(&filled, &incremental());
    assert!(c.passed());
    assert_eq!(c.excused[0].exception, Exception::PunchedHolesSentAsZeros);
    let v2 = CompareOptions {
        send_protocol: 2,
        ..incremental()
    };
    assert_eq!(only_mismatch(&run(&filled, &v2)).field, Field::Holes);
}

#[test]
fn holes_can_be_left_unenforced() {
    let opts = CompareOptions {
        enforce_holes: false,
        ..full()
    };
    let c = run(&with(FILE, "holes=4096+4096", "holes=-"), &opts);
    assert!(c.passed());
    assert_eq!(c.excused[0].exception, Exception::HolesNotEnforced);
    assert!(c.active_exceptions.contains(&Exception::HolesNotEnforced));
    assert!(!c
        .active_exceptions
        .contains(&Exception::PreallocBecomesHole));
}

#[test]
fn ignored_xattr_covers_only_that_name() {
    let opts = CompareOptions {
        ignore_xattrs: [b"security.selinux".to_vec()].into(),
        ..full()
    };
    let added = with(
        FILE,
        "xattr:user.a=01",
        "xattr:security.selinux=00\txattr:user.a=01",
    );
    let c = run(&added, &opts);
    assert!(c.passed());
    assert_eq!(c.excused[0].exception, Exception::IgnoredXattr);
    let other = with(FILE, "xattr:user.a=01", "xattr:user.a=02");
    assert_eq!(
        only_mismatch(&run(&other, &opts)).field,
        Field::Xattr("user.a".into())
    );
}

#[test]
fn atime_is_compared_unless_configured() {
    let moved = with(FILE, "atime=400", "atime=500");
    assert_eq!(only_mismatch(&run(&moved, &full())).field, Field::Atime);
    let opts = CompareOptions {
        ignore_atime: true,
        ..full()
    };
    let c = run(&moved, &opts);
    assert!(c.passed());
    assert_eq!(c.excused[0].exception, Exception::AtimeNotPreserved);
    let mtime = with(FILE, "mtime=300", "mtime=500");
    assert_eq!(only_mismatch(&run(&mtime, &opts)).field, Field::Mtime);
}

#[test]
fn setuid_lost_after_chown_is_an_expected_failure_of_incrementals_only() {
    let lost = with(SETUID, "mode=4755", "mode=0755");
    let c = run(&lost, &incremental());
    assert!(c.passed());
    assert_eq!(c.expected_failures.len(), 1);
    assert_eq!(
        c.expected_failures[0].case,
        ExpectedFailure::SetuidLostOnChownOnly
    );
    assert_eq!(only_mismatch(&run(&lost, &full())).field, Field::Mode);
    let other_bit = with(SETUID, "mode=4755", "mode=4754");
    assert_eq!(
        only_mismatch(&run(&other_bit, &incremental())).field,
        Field::Mode
    );
}

#[test]
fn root_mtime_after_a_deep_chain_is_an_expected_failure() {
    let chain: Vec<String> = (1..=66)
        .map(|depth| {
            let path = vec!["c"; depth].join("/");
            format!("E\t{path}\ttype=d\tmode=0755\towner=0:0\tmtime=1\tatime=1")
        })
        .collect();
    let mut source: Vec<&str> = base();
    source.extend(chain.iter().map(String::as_str));
    let mut target: Vec<String> = source
        .iter()
        .map(|l| l.replacen("mtime=100\t", "mtime=999\t", 1))
        .collect();
    let c = compare(
        &digest(&source),
        &digest(&target.iter().map(String::as_str).collect::<Vec<_>>()),
        &incremental(),
    );
    assert!(c.passed(), "{:#?}", c.mismatches);
    assert_eq!(
        c.expected_failures[0].case,
        ExpectedFailure::RootMtimeAfterDeepChain
    );
    // A full stream of a tree holding the chain loses it too.
    let full = compare(
        &digest(&source),
        &digest(&target.iter().map(String::as_str).collect::<Vec<_>>()),
        &CompareOptions::default(),
    );
    assert!(full.passed(), "{:#?}", full.mismatches);
    // without a deep chain the same difference is a mismatch
    let shallow = with(ROOT, "mtime=100", "mtime=999");
    assert_eq!(
        only_mismatch(&run(&shallow, &incremental())).field,
        Field::Mtime
    );
    // and a non-root mtime stays a mismatch even with the chain
    for l in &mut target {
        if l.starts_with("E\td\t") {
            *l = l.replace("mtime=110", "mtime=1");
        }
    }
    let c = compare(
        &digest(&source),
        &digest(&target.iter().map(String::as_str).collect::<Vec<_>>()),
        &incremental(),
    );
    assert_eq!(only_mismatch(&c).path, "d");
}

#[test]
fn report_groups_counts_and_explains_once() {
    let mut target = with(FILE, "mode=0644", "mode=0600");
    for l in &mut target {
        if l.starts_with("E\td/h") {
            *l = l.replace("mode=0644", "mode=0600");
        }
    }
    target.retain(|l| !l.starts_with("S\t"));
    let text = render(
        &run(&target, &full()),
        ReportLimits {
            examples_per_group: 2,
        },
    );
    assert!(
        text.starts_with("digest comparison: FAIL: 3 mismatch(es) in 1 field(s)"),
        "{text}"
    );
    assert!(text.contains("  mode: 3\n"), "{text}");
    assert!(
        text.contains("      d/f: source=0644 target=0600\n"),
        "{text}"
    );
    assert!(text.contains("      ... and 1 more\n"), "{text}");
    assert_eq!(
        text.matches("send does not cross into nested subvolumes")
            .count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("nested-subvolume-not-sent [stub]: 1 hit(s)"),
        "{text}"
    );
    assert!(
        text.contains("ctime and birth time: not transferred"),
        "{text}"
    );
}

#[test]
fn report_names_expected_failures() {
    let lost = with(SETUID, "mode=4755", "mode=0755");
    let text = render(&run(&lost, &incremental()), ReportLimits::default());
    assert!(text.starts_with("digest comparison: PASS"), "{text}");
    assert!(
        text.contains("setuid-lost-on-chown-only [mode]: 1 hit(s)"),
        "{text}"
    );
    assert!(text.contains("d/suid: source=4755 target=0755"), "{text}");
}

#[test]
fn comparison_serializes_for_results_json() {
    let c = run(&with(FILE, "mode=0644", "mode=0600"), &full());
    let json = serde_json::to_value(&c).expect("serializable");
    assert_eq!(json["mismatches"][0]["field"], "mode");
    assert_eq!(json["mismatches"][0]["path"], "d/f");
    assert_eq!(json["active_exceptions"][0], "nested-subvolume-not-sent");
}
