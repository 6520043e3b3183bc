//! `verify.restore.digest`: the restored tree's digest against the source
//! snapshot's, through `crate::digest`.

use super::{names, Check, Verdict};
use crate::digest::{compare_texts, render, CompareOptions, DigestError, ReportLimits};
use serde_json::json;

/// Mismatches kept in the evidence (the diagnosis has the grouped report).
const MAX_MISMATCHES: usize = 50;

/// A digest that cannot be parsed is the harness's problem (the digest
/// program is ours), so it is an error, not a failed check.
pub fn verify_restore_digest(
    source: &str,
    target: &str,
    options: &CompareOptions,
) -> Result<Check, DigestError> {
    let c = compare_texts(source, target, options)?;
    let report = render(&c, ReportLimits::default());
    let verdict = if c.passed() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let shown: Vec<_> = c.mismatches.iter().take(MAX_MISMATCHES).collect();
    let evidence = json!({
        "source_entries": c.source_entries,
        "target_entries": c.target_entries,
        "mismatch_count": c.mismatches.len(),
        "mismatches": shown,
        "excused": c.excused.len(),
        "expected_failures": c.expected_failures,
        "active_exceptions": c.active_exceptions,
    });
    Ok(Check::new(names::RESTORE_DIGEST, verdict, evidence, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(lines: &[&str]) -> String {
        let count = |tag: &str| lines.iter().filter(|l| l.starts_with(tag)).count();
        format!(
            "#vmharness-digest\tv=1\tblock=4096\thash=sha256\tignore-xattr=\n{}\n#end\tentries={}\tstubs={}\tgroups={}\n",
            lines.join("\n"),
            count("E\t"),
            count("S\t"),
            count("H\t"),
        )
    }

    const ROOT: &str = "E\t.\ttype=d\tmode=0755\towner=0:0\tmtime=100\tatime=200";
    const FILE: &str = "E\tf\ttype=f\tmode=0644\towner=0:0\tnlink=1\tsize=3\tmtime=300\tatime=400\thash=aa\tholes=-";

    #[test]
    fn equal_trees_pass() {
        let d = digest(&[ROOT, FILE]);
        let c = verify_restore_digest(&d, &d, &CompareOptions::default()).unwrap();
        assert_eq!(c.verdict, Verdict::Pass);
        assert_eq!(c.evidence["mismatch_count"], 0);
    }

    #[test]
    fn lost_owner_fails_with_report() {
        // restore-drops-metadata: contents right, owner lost.
        let s = digest(&[ROOT, FILE]);
        let t = digest(&[ROOT, &FILE.replace("owner=0:0", "owner=1:1")]);
        let c = verify_restore_digest(&s, &t, &CompareOptions::default()).unwrap();
        assert_eq!(c.verdict, Verdict::Fail);
        assert_eq!(c.evidence["mismatch_count"], 1);
        assert!(c.diagnosis.contains("owner"), "{}", c.diagnosis);
    }

    #[test]
    fn unparsable_digest_is_an_error() {
        let s = digest(&[ROOT]);
        let err = verify_restore_digest(&s, "garbage", &CompareOptions::default()).unwrap_err();
        assert_eq!(err.side, "target");
    }
}
