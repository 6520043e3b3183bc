//! The README and the book (`docs/src/`) hold together: every relative
//! Markdown link names a file that exists and, with `#anchor`, a heading
//! of that file whose slug (GitHub's and mdBook's: lowercase, letters,
//! digits, `-` and `_` kept, spaces to `-`, the rest dropped) is the
//! anchor; every chapter is in `SUMMARY.md` and everything it lists is a
//! chapter; and the README keeps the two commands at its top.

use std::collections::{BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn book_src() -> PathBuf {
    root().join("docs/src")
}

/// `text` without its fenced code blocks and inline code spans (a link
/// there is not a link); lines are kept, so a line number still points at
/// the same line.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        let marker: String = t.chars().take_while(|c| *c == '`' || *c == '~').collect();
        match &fence {
            Some(f) if marker.len() >= f.len() && marker.starts_with(&f[..1]) => fence = None,
            Some(_) => {}
            None if marker.len() >= 3 => fence = Some(marker),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    strip_code_spans(&out)
}

/// Inline code spans removed (a span may run over a line break); a run of
/// backticks with no closing run of the same length stays as text.
fn strip_code_spans(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'`' {
            let next = text[i..].find('`').map_or(b.len(), |n| i + n);
            out.push_str(&text[i..next]);
            i = next;
            continue;
        }
        let n = b[i..].iter().take_while(|c| **c == b'`').count();
        let mut j = i + n;
        let mut close = None;
        while j < b.len() {
            if b[j] == b'`' {
                let m = b[j..].iter().take_while(|c| **c == b'`').count();
                if m == n {
                    close = Some(j + m);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                // Keep the line count.
                out.extend(text[i..end].chars().filter(|c| *c == '\n'));
                i = end;
            }
            None => {
                out.push_str(&text[i..i + n]);
                i += n;
            }
        }
    }
    out
}

/// The targets of the inline links (`[text](target)`, images too) of
/// `text`, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in prose(text).lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or("");
            let target = target.trim_start_matches('<').trim_end_matches('>');
            found.push((n + 1, target.to_string()));
            rest = &after[end..];
        }
    }
    found
}

/// The anchor GitHub and mdBook give a heading's text.
fn slug(heading: &str) -> String {
    // A link in a heading reads as its text.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(i) = rest.find("](") {
        text.push_str(&rest[..i]);
        rest = rest[i + 2..].split_once(')').map_or("", |(_, r)| r);
    }
    text.push_str(rest);
    text.trim()
        .chars()
        .filter(|c| !matches!(c, '`' | '*' | '[' | ']'))
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (ATX, outside code), a
/// repeated one numbered `-1`, `-2`, ... as GitHub and mdBook do.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut fence = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = !fence;
            continue;
        }
        let hashes = t.chars().take_while(|c| *c == '#').count();
        if fence || !(1..=6).contains(&hashes) || !t[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(t[hashes..].trim().trim_end_matches('#'));
        let mut id = base.clone();
        let mut k = 0;
        while seen.contains(&id) {
            k += 1;
            id = format!("{base}-{k}");
        }
        seen.insert(id);
    }
    seen
}

/// `a/b/../c` as `a/c`, without touching the filesystem.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// What is wrong with the relative links of `file` (its text `text`):
/// a missing target, an anchor no heading of the target has, or (with
/// `inside`) a target outside that directory, which the built book would
/// not carry.
fn broken_links(file: &Path, text: &str, inside: Option<&Path>) -> Vec<String> {
    let dir = file.parent().unwrap();
    let mut problems = Vec::new();
    for (line, target) in links(text) {
        let at = format!("{}:{line}: ({target})", file.display());
        if target.is_empty() {
            problems.push(format!("{at} an empty link"));
            continue;
        }
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        let dest = if path.is_empty() {
            file.to_path_buf()
        } else {
            normal(&dir.join(path))
        };
        if let Some(inside) = inside {
            if !dest.starts_with(normal(inside)) {
                problems.push(format!("{at} leaves {}", inside.display()));
            }
        }
        if !dest.exists() {
            problems.push(format!("{at} no such file {}", dest.display()));
            continue;
        }
        if let Some(anchor) = anchor {
            let Ok(dest_text) = std::fs::read_to_string(&dest) else {
                problems.push(format!("{at} #{anchor} in a file that is not text"));
                continue;
            };
            if !anchors(&dest_text).contains(anchor) {
                problems.push(format!(
                    "{at} no heading of {} has the anchor #{anchor}",
                    dest.display()
                ));
            }
        }
    }
    problems
}

fn chapters() -> BTreeSet<String> {
    std::fs::read_dir(book_src())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md") && n != "SUMMARY.md")
        .collect()
}

#[test]
fn every_relative_link_of_the_readme_and_the_book_resolves() {
    let mut problems = Vec::new();
    let readme = root().join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    assert!(!links(&text).is_empty(), "the README links into the book");
    problems.extend(broken_links(&readme, &text, None));
    let src = book_src();
    let mut pages = chapters();
    pages.insert("SUMMARY.md".into());
    let mut checked = 0;
    for name in &pages {
        let page = src.join(name);
        let text = std::fs::read_to_string(&page).unwrap();
        checked += links(&text).len();
        problems.extend(broken_links(&page, &text, Some(&src)));
    }
    assert!(checked > 20, "the book's links were found: {checked}");
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn summary_lists_every_chapter_and_only_chapters() {
    let text = std::fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    let listed: Vec<String> = links(&text).into_iter().map(|(_, t)| t).collect();
    let set: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(
        set.len(),
        listed.len(),
        "a chapter listed twice: {listed:?}"
    );
    assert_eq!(
        set,
        chapters(),
        "SUMMARY.md's links and the .md files of docs/src differ"
    );
}

#[test]
fn the_readme_keeps_the_two_commands_at_its_top() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let top = &text[..text.find("\n## ").expect("the README has sections")];
    for command in [
        "scripts/install-deps && cargo build --release && target/release/vmharness run-all",
        "cargo test --release",
    ] {
        assert!(
            top.contains(&format!("```sh\n{command}\n```")),
            "the README's top runs `{command}`"
        );
    }
}

/// The checker itself: a broken file link and a broken anchor are found,
/// a good link of each kind is not, and code is not read for links.
#[test]
fn a_broken_link_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("target.md"),
        "# The chapter\n\n## Configuration, completions and --json\n\n## Reports: `report.html`\n",
    )
    .unwrap();
    let page = dir.path().join("page.md");
    let good = "See [it](target.md), [there](target.md#configuration-completions-and---json), \
                [the report](target.md#reports-reporthtml) and [top](#a-page).\n";
    let text = format!(
        "# A page\n\n{good}\n\
         A [gone](missing.md) file, a [wrong](target.md#no-such-heading) anchor,\n\
         one [here](#nowhere), `[not](a-link.md)` and\n\n```\n[nor](this.md)\n```\n"
    );
    std::fs::write(&page, &text).unwrap();
    assert!(broken_links(&page, good, None).is_empty());
    let problems = broken_links(&page, &text, None);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].contains(":5: (missing.md) no such file"),
        "{problems:#?}"
    );
    assert!(problems[1].contains("#no-such-heading"), "{problems:#?}");
    assert!(problems[2].contains(":6: (#nowhere)"), "{problems:#?}");
    // Out of the book's directory: the built book would not have it.
    let sub = dir.path().join("src");
    std::fs::create_dir(&sub).unwrap();
    let inner = sub.join("inner.md");
    let problems = broken_links(&inner, "[up](../target.md)\n", Some(&sub));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("leaves"), "{problems:#?}");
}

#[test]
fn slugs_are_githubs() {
    assert_eq!(slug("Judging any tool fairly"), "judging-any-tool-fairly");
    assert_eq!(
        slug("Configuration, completions and --json"),
        "configuration-completions-and---json"
    );
    assert_eq!(
        slug("Reports people read: report.html, `vmharness report`, merging and shards"),
        "reports-people-read-reporthtml-vmharness-report-merging-and-shards"
    );
    assert_eq!(
        slug("This project's CI: `.ci/run`"),
        "this-projects-ci-cirun"
    );
    assert_eq!(slug("In [CI](ci.md)"), "in-ci");
    let a = anchors("# A\n## Same\n```\n# not a heading\n```\n## Same\n");
    assert_eq!(
        a,
        ["a", "same", "same-1"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}
