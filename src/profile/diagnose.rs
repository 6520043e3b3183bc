//! A profile that does not deserialise, said in the profile's terms: the
//! file, the line and column, the key path (`[backup] chunk_size_bytes`),
//! what was expected, what was found, and the fix (the closest known key or
//! value for a typo).

use serde_path_to_error::{Path as KeyPath, Segment};

/// The error of deserialising `text` (read from `file`), as one message.
pub fn explain(
    err: &serde_path_to_error::Error<toml::de::Error>,
    text: &str,
    file: &str,
) -> String {
    let inner = err.inner();
    let at = inner
        .span()
        .map(|s| {
            let (line, col) = line_col(text, s.start);
            format!(", line {line} column {col}")
        })
        .unwrap_or_default();
    let body = describe(err.path(), inner.message());
    let snippet = inner.span().map(|s| snippet(text, s)).unwrap_or_default();
    format!("profile {file}{at}: {body}{snippet}")
}

/// A validation error (`profile F: [backup] retain must be ...`) with the
/// line and column of the key it names, when the file sets that key:
/// `profile F, line 3 column 1: [backup] retain must be ...`.
pub fn locate_validation(message: &str, text: &str, file: &str) -> String {
    let head = format!("profile {file}: ");
    let Some(rest) = message.strip_prefix(&head) else {
        return message.to_string();
    };
    let Some(offset) = key_named(rest).and_then(|(table, key)| key_offset(text, &table, &key))
    else {
        return message.to_string();
    };
    let (line, col) = line_col(text, offset);
    format!("profile {file}, line {line} column {col}: {rest}")
}

/// `[s3.embedded] port ...` -> (["s3", "embedded"], "port").
fn key_named(rest: &str) -> Option<(Vec<String>, String)> {
    let inner = rest.strip_prefix('[')?;
    let (table, after) = inner.split_once("] ")?;
    if !table
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    let key: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!key.is_empty()).then(|| (table.split('.').map(str::to_string).collect(), key))
}

/// Byte offset of `key` in the table at `path`, when the text sets it.
fn key_offset(text: &str, path: &[String], key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    for p in path {
        table = table.get(p)?.as_table_like()?;
    }
    let (k, _) = table.get_key_value(key)?;
    k.span().map(|s| s.start)
}

/// The message's body: what is wrong where, and the fix.
fn describe(path: &KeyPath, message: &str) -> String {
    let (table, key) = split(path);
    let first = message.lines().next().unwrap_or_default();
    if let Some((name, known)) = unknown("unknown field", first) {
        return if table.is_empty() {
            format!(
                "unknown section [{name}]{} (sections: {})",
                hint(&name, &known, "[", "]"),
                join(&known, "[", "]")
            )
        } else {
            format!(
                "unknown key `{name}` in {table}{} (keys of {table}: {})",
                hint(&name, &known, "`", "`"),
                join(&known, "`", "`")
            )
        };
    }
    if let Some((value, known)) = unknown("unknown variant", first) {
        return format!(
            "{}: unknown value \"{value}\"{} (expected one of {})",
            at(&table, &key),
            hint(&value, &known, "\"", "\""),
            join(&known, "\"", "\"")
        );
    }
    if let Some(field) = between(first, "missing field `", "`") {
        let whole = path.to_string();
        let table = if whole == "." {
            "the profile".to_string()
        } else {
            format!("[{whole}]")
        };
        return format!("{table} is missing the required key `{field}`; add `{field} = ...` to it");
    }
    for (prefix, kind) in [
        ("invalid type: ", Kind::Type),
        ("invalid value: ", Kind::Value),
    ] {
        if let Some(rest) = first.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.rsplit_once(", expected ") {
                let expected = friendly_expected(expected);
                let found = friendly_found(found, kind);
                let unquote = kind == Kind::Type
                    && found.starts_with("a string")
                    && !expected.contains("string");
                let quotes = if unquote {
                    " (write the value without quotes)"
                } else {
                    ""
                };
                return format!(
                    "{}: expected {expected}, found {found}{quotes}",
                    at(&table, &key)
                );
            }
        }
    }
    if path.iter().next().is_none() || path.to_string() == "." {
        // Nothing deserialised: the text is not TOML.
        return format!("TOML syntax error: {}", message.trim().replace('\n', "; "));
    }
    format!(
        "{}: {}",
        at(&table, &key),
        message.trim().replace('\n', "; ")
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Type,
    Value,
}

/// `[table] key`, or `[table]` when the error is about a whole table.
fn at(table: &str, key: &str) -> String {
    match (table.is_empty(), key.is_empty()) {
        (true, _) => format!("[{key}]"),
        (false, true) => table.to_string(),
        (false, false) => format!("{table} {key}"),
    }
}

/// The path as (`[s3.embedded]`, `port`): the table the key is in and the
/// key (with its array indices, `run[1]`). An array of tables reads
/// `[[s3.faults]] #1`.
fn split(path: &KeyPath) -> (String, String) {
    let segs: Vec<&Segment> = path.iter().collect();
    let last_key = segs.iter().rposition(|s| matches!(s, Segment::Map { .. }));
    let Some(last_key) = last_key else {
        return (String::new(), String::new());
    };
    let mut table = Vec::new();
    let mut array_of_tables = None;
    for s in &segs[..last_key] {
        match s {
            Segment::Map { key } => table.push(key.clone()),
            Segment::Seq { index } => array_of_tables = Some(index + 1),
            _ => {}
        }
    }
    let mut key = match segs[last_key] {
        Segment::Map { key } => key.clone(),
        _ => String::new(),
    };
    for s in &segs[last_key + 1..] {
        if let Segment::Seq { index } = s {
            key.push_str(&format!("[{index}]"));
        }
    }
    if table.is_empty() {
        return (String::new(), key);
    }
    let table = match array_of_tables {
        Some(n) => format!("[[{}]] #{n}", table.join(".")),
        None => format!("[{}]", table.join(".")),
    };
    (table, key)
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`",
/// or "there are no fields") as ("x", ["a", "b"]).
fn unknown(prefix: &str, message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let name = between(rest, "`", "`")?;
    let after = rest.split_once(", ").map(|(_, a)| a).unwrap_or_default();
    let known = after
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((name, known))
}

fn between(s: &str, open: &str, close: &str) -> Option<String> {
    let (_, rest) = s.split_once(open)?;
    let (inside, _) = rest.split_once(close)?;
    Some(inside.to_string())
}

/// "; did you mean `x`?" for the known name closest to `name`, if one is close.
fn hint(name: &str, known: &[String], open: &str, close: &str) -> String {
    closest(name, known)
        .map(|k| format!("; did you mean {open}{k}{close}?"))
        .unwrap_or_default()
}

/// The candidate most like `name` (Jaro-Winkler similarity at least 0.8,
/// as clap does for subcommands).
pub fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.as_str())
}

fn join(known: &[String], open: &str, close: &str) -> String {
    if known.is_empty() {
        return "none".into();
    }
    known
        .iter()
        .map(|k| format!("{open}{k}{close}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// serde's expectation ("u32", "a sequence", "struct VmSection") in TOML terms.
fn friendly_expected(e: &str) -> String {
    let range = |max: u64| format!("an integer from 0 to {max}");
    match e {
        "u8" => range(u8::MAX.into()),
        "u16" => range(u16::MAX.into()),
        "u32" => range(u32::MAX.into()),
        "u64" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" | "bool" => "a boolean (true or false)".into(),
        "a string" | "string" => "a string".into(),
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        s if s.starts_with("struct ") => "a table".into(),
        s => s.to_string(),
    }
}

/// serde's `Unexpected` ("string \"8M\"", "integer `3`", "sequence") in TOML terms.
fn friendly_found(f: &str, kind: Kind) -> String {
    let value = f
        .split_once(' ')
        .map(|(_, v)| v.trim_matches('`').to_string());
    let kind_word = f.split(' ').next().unwrap_or_default();
    if kind == Kind::Value {
        return value.unwrap_or_else(|| f.to_string());
    }
    let (noun, value) = match kind_word {
        "string" => ("a string", value),
        "integer" => ("an integer", value),
        "floating" => (
            "a number",
            f.rsplit_once(' ')
                .map(|(_, v)| v.trim_matches('`').to_string()),
        ),
        "boolean" => ("a boolean", value),
        "sequence" => ("an array", None),
        "map" => ("a table", None),
        _ => return f.to_string(),
    };
    match value {
        Some(v) => format!("{noun} ({v})"),
        None => noun.to_string(),
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (line, col)
}

/// The offending line with a caret under the span.
fn snippet(text: &str, span: std::ops::Range<usize>) -> String {
    let (line, col) = line_col(text, span.start);
    let Some(src) = text.lines().nth(line - 1) else {
        return String::new();
    };
    let width = text
        .get(span.clone())
        .map(|s| s.lines().next().unwrap_or_default().chars().count())
        .unwrap_or(1)
        .max(1);
    format!(
        "\n  {line:>4} | {src}\n       | {}{}",
        " ".repeat(col - 1),
        "^".repeat(width)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn closest_picks_a_near_name_only() {
        let k = known(&["chunk_size_bytes", "concurrency", "retain"]);
        assert_eq!(closest("chunk_sise_bytes", &k), Some("chunk_size_bytes"));
        assert_eq!(closest("concurency", &k), Some("concurrency"));
        assert_eq!(closest("zzz", &k), None);
    }

    #[test]
    fn line_and_column_count_characters() {
        let text = "[vm]\nimage = \"é\"\ncpus = 1\n";
        let off = text.find("cpus").unwrap();
        assert_eq!(line_col(text, off), (3, 1));
        let off = text.find('"').unwrap() + 3;
        assert_eq!(
            line_col(text, off),
            (2, 11),
            "the closing quote, after a 2-byte character"
        );
    }

    #[test]
    fn validation_errors_get_the_key_line() {
        let text = "[vm]\ncpus = 1\n\n[s3.embedded]\nport = 1\n";
        let f = "c/x.toml";
        assert_eq!(
            locate_validation("profile c/x.toml: [vm] cpus must be ...", text, f),
            "profile c/x.toml, line 2 column 1: [vm] cpus must be ..."
        );
        assert_eq!(
            locate_validation("profile c/x.toml: [s3.embedded] port is bad", text, f),
            "profile c/x.toml, line 5 column 1: [s3.embedded] port is bad"
        );
        // A key the file leaves to its default, or no key: unchanged.
        for m in [
            "profile c/x.toml: [vm] memory_mib must be ...",
            "profile c/x.toml: [[s3.faults]]: bad",
            "something else",
        ] {
            assert_eq!(locate_validation(m, text, f), m);
        }
    }

    #[test]
    fn serde_messages_in_toml_terms() {
        assert_eq!(friendly_expected("u32"), "an integer from 0 to 4294967295");
        assert_eq!(friendly_expected("struct VmSection"), "a table");
        assert_eq!(
            friendly_found("string \"8M\"", Kind::Type),
            "a string (\"8M\")"
        );
        assert_eq!(friendly_found("integer `3`", Kind::Type), "an integer (3)");
        assert_eq!(
            friendly_found("floating point `1.5`", Kind::Type),
            "a number (1.5)"
        );
        assert_eq!(friendly_found("integer `-1`", Kind::Value), "-1");
        assert_eq!(friendly_found("sequence", Kind::Type), "an array");
    }
}
