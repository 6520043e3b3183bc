//! What a failed restore left behind: after every restore that fails, the
//! harness looks at the whole fixture filesystem. A subvolume that
//! appeared during the restore and is writable or has no received UUID (a
//! half-received one), or anything at or under the target, is a leftover
//! (`verify.restore.no_leftovers`); the harness then removes it, so later
//! restores are judged on a clean slate.

use crate::runner::session::{Session, ToolRun};
use crate::ssh::shell_quote;
use crate::verify::{names, Check, Problem, Verdict};
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// One subvolume of the fixture filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subvolume {
    pub readonly: bool,
    /// A received UUID is set (the receive of it completed).
    pub received: bool,
}

/// Subvolumes by absolute path.
pub type Subvolumes = BTreeMap<String, Subvolume>;

const SEPARATOR: &str = "--vmharness-readonly--";

/// Guest shell printing every subvolume with its received UUID, then the
/// read-only ones (`btrfs subvolume list -R` and `-r -R`).
fn list_script(mount: &str) -> String {
    let m = shell_quote(mount);
    format!("btrfs subvolume list -R {m} && echo {SEPARATOR} && btrfs subvolume list -r -R {m}")
}

/// The `path` and `received_uuid` of one `btrfs subvolume list -R` line.
fn parse_line(line: &str) -> Option<(String, bool)> {
    let (head, path) = line.split_once(" path ")?;
    let received = head
        .split_once("received_uuid ")
        .map(|(_, r)| r.split_whitespace().next().unwrap_or("-") != "-")
        .unwrap_or(false);
    Some((path.trim_start().to_string(), received))
}

/// Parse what [`list_script`] printed into absolute paths under `mount`.
pub fn parse_list(text: &str, mount: &str) -> Subvolumes {
    let (all, readonly) = text.split_once(SEPARATOR).unwrap_or((text, ""));
    let ro: Vec<String> = readonly
        .lines()
        .filter_map(parse_line)
        .map(|(p, _)| p)
        .collect();
    all.lines()
        .filter_map(parse_line)
        .map(|(p, received)| {
            let readonly = ro.contains(&p);
            (
                crate::profile::join_guest(mount, &p),
                Subvolume { readonly, received },
            )
        })
        .collect()
}

/// What a restore left: subvolumes new since `before` that are writable or
/// unreceived, any new one at or under `target`, and (with `any_new`) every
/// new subvolume; `target_exists` adds the target itself. Deepest first.
pub fn leftovers(
    before: &Subvolumes,
    after: &Subvolumes,
    target: &str,
    target_exists: bool,
    any_new: bool,
) -> Vec<(String, String)> {
    let under = |p: &str| p == target || p.starts_with(&format!("{target}/"));
    let mut out: Vec<(String, String)> = after
        .iter()
        .filter(|(p, _)| !before.contains_key(*p))
        .filter_map(|(p, sv)| {
            let why = if under(p) {
                "a subvolume at the target"
            } else if !sv.readonly || !sv.received {
                if !sv.received {
                    "a half-received subvolume (no received UUID)"
                } else {
                    "a writable subvolume the restore made"
                }
            } else if any_new {
                "a received subvolume holding the restored (altered) data"
            } else {
                return None;
            };
            Some((p.clone(), why.to_string()))
        })
        .collect();
    if target_exists && !out.iter().any(|(p, _)| p == target) {
        out.push((target.to_string(), "something at the target".into()));
    }
    out.sort_by_key(|(p, _)| std::cmp::Reverse(p.matches('/').count()));
    out
}

/// The fixture's subvolumes now.
pub fn list(s: &mut Session) -> Result<Subvolumes> {
    let mount = s.layout.mount.clone();
    let out = s.vm.ssh().run(
        "list-subvolumes",
        &list_script(&mount),
        Duration::from_secs(60),
    )?;
    Ok(parse_list(&out.stdout_text(), &mount))
}

/// Remove `paths` (subvolumes made writable first, deepest first) and the target.
fn remove_script(paths: &[String], target: &str) -> String {
    let mut lines: Vec<String> = paths
        .iter()
        .map(|p| {
            let q = shell_quote(p);
            format!(
                "if btrfs subvolume show {q} >/dev/null 2>&1; then btrfs property set -f {q} ro false 2>/dev/null; btrfs -q subvolume delete {q}; else rm -rf {q}; fi"
            )
        })
        .collect();
    lines.push(format!("rm -rf {}", shell_quote(target)));
    lines.join("\n")
}

/// Run a restore command line (`label`, into `target`) and, when it fails,
/// the `verify.restore.no_leftovers` check of what it left (removed
/// afterwards). `any_new`: every new subvolume counts (a restore of
/// corrupt data must keep none).
pub fn restore_run(
    s: &mut Session,
    label: &str,
    line: &str,
    target: &str,
    any_new: bool,
) -> Result<(ToolRun, Option<Check>)> {
    let before = list(s)?;
    let run = s.run_tool(label, line)?;
    if run.succeeded() {
        return Ok((run, None));
    }
    Ok((run, Some(judge_and_clear(s, &before, target, any_new)?)))
}

/// `verify.restore.no_leftovers` after a failed restore into `target`,
/// then what it left removed.
pub fn judge_and_clear(
    s: &mut Session,
    before: &Subvolumes,
    target: &str,
    any_new: bool,
) -> Result<Check> {
    let after = list(s)?;
    let exists =
        s.vm.ssh()
            .run(
                "restore-target-exists",
                &format!("test -e {} && echo yes || true", shell_quote(target)),
                Duration::from_secs(60),
            )?
            .stdout_text()
            .trim()
            == "yes";
    let left = leftovers(before, &after, target, exists, any_new);
    if !left.is_empty() {
        let paths: Vec<String> = left.iter().map(|(p, _)| p.clone()).collect();
        s.vm.ssh().run(
            "restore-leftovers-remove",
            &remove_script(&paths, target),
            Duration::from_secs(300),
        )?;
    }
    let problems = left
        .iter()
        .map(|(p, why)| Problem::about(p, why.clone()))
        .collect();
    Ok(Check::from_problems(
        names::NO_LEFTOVERS,
        problems,
        Verdict::Fail,
        json!({"target": target}),
        "the failed restore left nothing behind (no half-received subvolume, nothing at the target)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "\
ID 256 gen 20 top level 5 received_uuid -                                    path data
ID 257 gen 21 top level 5 received_uuid -                                    path .snapshots/data__20261202T070000Z__full
ID 260 gen 30 top level 5 received_uuid 0d8f4a7e-1111-2222-3333-444455556666 path restore/.data-latest.staging/data__20261202T070000Z__full
ID 261 gen 31 top level 5 received_uuid -                                    path restore/data-latest
ID 262 gen 31 top level 256 received_uuid -                                  path data/nested
--vmharness-readonly--
ID 257 gen 21 top level 5 received_uuid -                                    path .snapshots/data__20261202T070000Z__full
ID 260 gen 30 top level 5 received_uuid 0d8f4a7e-1111-2222-3333-444455556666 path restore/.data-latest.staging/data__20261202T070000Z__full
";

    #[test]
    fn the_list_gives_paths_readonly_and_received() {
        let got = parse_list(LIST, "/mnt/btrfs");
        assert_eq!(got.len(), 5);
        assert_eq!(
            got["/mnt/btrfs/.snapshots/data__20261202T070000Z__full"],
            Subvolume {
                readonly: true,
                received: false
            }
        );
        let staged = &got["/mnt/btrfs/restore/.data-latest.staging/data__20261202T070000Z__full"];
        assert!(staged.readonly && staged.received);
        assert!(!got["/mnt/btrfs/restore/data-latest"].readonly);
        assert!(got.contains_key("/mnt/btrfs/data/nested"));
    }

    #[test]
    fn half_received_and_target_subvolumes_are_leftovers() {
        let all = parse_list(LIST, "/mnt/btrfs");
        let before: Subvolumes = all
            .iter()
            .filter(|(p, _)| !p.contains("restore"))
            .map(|(p, v)| (p.clone(), v.clone()))
            .collect();
        let left = leftovers(&before, &all, "/mnt/btrfs/restore/data-latest", true, false);
        assert_eq!(
            left,
            vec![(
                "/mnt/btrfs/restore/data-latest".to_string(),
                "a subvolume at the target".to_string()
            )],
            "a complete read-only received subvolume elsewhere is allowed"
        );
        let left = leftovers(&before, &all, "/mnt/btrfs/restore/other", false, true);
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left[0].0.contains("staging"), "deepest first: {left:?}");
        assert_eq!(left[1].1, "a half-received subvolume (no received UUID)");
        assert!(leftovers(&all, &all, "/mnt/btrfs/restore/x", false, true).is_empty());
        let only_dir = leftovers(&all, &all, "/mnt/btrfs/restore/x", true, false);
        assert_eq!(only_dir[0].1, "something at the target");
    }

    #[test]
    fn removal_makes_subvolumes_writable_first_then_clears_the_target() {
        let s = remove_script(&["/m/restore/a b".into()], "/m/restore/t");
        assert!(
            s.contains("btrfs property set -f '/m/restore/a b' ro false"),
            "{s}"
        );
        assert!(s.ends_with("rm -rf /m/restore/t"), "{s}");
    }
}
