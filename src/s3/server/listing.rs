//! ListObjectsV2 paging over sorted keys: prefix, delimiter, start-after and
//! continuation, counting common prefixes against max-keys as S3 does.

use base64::Engine as _;

const TOKEN: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// One entry of a listing page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    Key(&'a str),
    CommonPrefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<'a> {
    pub entries: Vec<Entry<'a>>,
    /// Set when more entries follow; pass back as continuation token.
    pub next_token: Option<String>,
}

/// Parameters of one page request.
pub struct Params<'p> {
    pub prefix: &'p str,
    pub delimiter: Option<&'p str>,
    /// Resume strictly after this key or common prefix.
    pub after: Option<String>,
    pub max: usize,
}

/// Encode the last returned entry as an opaque continuation token.
pub fn encode_token(last: &str) -> String {
    TOKEN.encode(last.as_bytes())
}

/// Decode a token produced by [`encode_token`]; None if it is not ours.
pub fn decode_token(token: &str) -> Option<String> {
    let raw = TOKEN.decode(token.as_bytes()).ok()?;
    String::from_utf8(raw).ok()
}

/// Build a page from keys in ascending byte order (a `BTreeMap` range).
pub fn page<'a, I>(keys: I, params: &Params<'_>) -> Page<'a>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut entries: Vec<Entry<'a>> = Vec::new();
    let mut last_prefix: Option<String> = params
        .after
        .as_ref()
        .filter(|a| {
            params
                .delimiter
                .is_some_and(|d| !d.is_empty() && a.ends_with(d))
        })
        .cloned();
    let mut truncated = false;
    for key in keys {
        if !key.starts_with(params.prefix) {
            continue;
        }
        if let Some(after) = params.after.as_deref() {
            if key <= after {
                continue;
            }
        }
        if let Some(cp) = last_prefix.as_deref() {
            if key.starts_with(cp) {
                continue;
            }
        }
        let entry = match params.delimiter.filter(|d| !d.is_empty()) {
            Some(delim) => match key[params.prefix.len()..].find(delim) {
                Some(pos) => {
                    let cp = key[..params.prefix.len() + pos + delim.len()].to_owned();
                    Entry::CommonPrefix(cp)
                }
                None => Entry::Key(key),
            },
            None => Entry::Key(key),
        };
        if entries.len() >= params.max {
            truncated = true;
            break;
        }
        if let Entry::CommonPrefix(cp) = &entry {
            last_prefix = Some(cp.clone());
        }
        entries.push(entry);
    }
    let next_token = if truncated {
        entries.last().map(|e| match e {
            Entry::Key(k) => encode_token(k),
            Entry::CommonPrefix(p) => encode_token(p),
        })
    } else {
        None
    };
    Page {
        entries,
        next_token,
    }
}

/// S3's `encoding-type=url`: percent-encode everything except unreserved
/// characters and `/`, with space as `+` (botocore decodes with
/// `unquote_plus`).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<&'static str> {
        let mut k = vec!["a", "a/b", "a/c/d", "a+b", "a%20", "b c", "ü/x", "z"];
        k.sort_unstable();
        k
    }

    fn all(prefix: &str, delimiter: Option<&str>, max: usize) -> Vec<String> {
        let keys = keys();
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let p = page(
                keys.iter().copied(),
                &Params {
                    prefix,
                    delimiter,
                    after: after.clone(),
                    max,
                },
            );
            for e in &p.entries {
                out.push(match e {
                    Entry::Key(k) => (*k).to_owned(),
                    Entry::CommonPrefix(c) => format!("CP:{c}"),
                });
            }
            match p.next_token {
                Some(t) => after = Some(decode_token(&t).expect("own token")),
                None => break,
            }
        }
        out
    }

    #[test]
    fn paging_one_at_a_time_sees_everything_once() {
        let expected: Vec<String> = keys().iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(all("", None, 1), expected);
        assert_eq!(all("", None, 1000), expected);
    }

    #[test]
    fn delimiter_groups_common_prefixes_across_pages() {
        let got = all("", Some("/"), 1);
        assert_eq!(
            got,
            vec!["a", "a%20", "a+b", "CP:a/", "b c", "z", "CP:ü/"]
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        );
        assert_eq!(all("a/", Some("/"), 2), vec!["a/b", "CP:a/c/"]);
    }

    #[test]
    fn url_encoding_matches_aws() {
        assert_eq!(url_encode("a b+c%/ü"), "a+b%2Bc%25/%C3%BC");
    }
}
