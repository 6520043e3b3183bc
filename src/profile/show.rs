//! `config show`: the effective profile (every key, defaults filled in) as
//! TOML or JSON, with secret values masked.
//!
//! A key is secret when its name (any case) contains `secret`, `password`,
//! `passwd` or `token` (`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` in
//! `[tool.env]`), unless it ends in `_env`: those keys (`[s3.guest_credentials]
//! secret_access_key_env`) name a host variable, they do not hold its value.
//! Optional keys that are not set (`[s3] endpoint_url` on the embedded
//! backend) have no value to show and are left out.

use super::Profile;
use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item, TableLike, Value};

/// What replaces a secret value.
pub const MASK: &str = "****";

const SECRET_WORDS: &[&str] = &["secret", "password", "passwd", "token"];

/// The effective profile as text, and the keys whose values were masked
/// (`[tool.env] AWS_SECRET_ACCESS_KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub text: String,
    pub masked: Vec<String>,
}

/// Does a key of this name hold a secret?
pub fn is_secret_key(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !lower.ends_with("_env") && SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// TOML, in the profile's section and key order.
pub fn to_toml(p: &Profile) -> Result<Shown> {
    let text = toml::to_string_pretty(p).context("rendering the profile as TOML")?;
    let mut doc: DocumentMut = text
        .parse()
        .context("re-reading the rendered profile (a vmharness bug)")?;
    let mut masked = Vec::new();
    mask_table(doc.as_table_mut(), &[], &mut masked);
    Ok(Shown {
        text: doc.to_string(),
        masked,
    })
}

/// JSON (pretty), from the masked TOML so both show the same values.
pub fn to_json(p: &Profile) -> Result<Shown> {
    let shown = to_toml(p)?;
    let value: serde_json::Value =
        toml::from_str(&shown.text).context("re-reading the masked profile (a vmharness bug)")?;
    Ok(Shown {
        text: serde_json::to_string_pretty(&value)? + "\n",
        masked: shown.masked,
    })
}

fn mask_table(table: &mut dyn TableLike, path: &[String], masked: &mut Vec<String>) {
    for (key, item) in table.iter_mut() {
        let key = key.get().to_string();
        let mut here = path.to_vec();
        here.push(key.clone());
        match item {
            Item::Table(t) => mask_table(t, &here, masked),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter_mut().enumerate() {
                    let mut at = here.clone();
                    at.push(format!("#{}", i + 1));
                    mask_table(t, &at, masked);
                }
            }
            Item::Value(Value::InlineTable(t)) => mask_table(t, &here, masked),
            Item::Value(v) if is_secret_key(&key) => {
                let decor = v.decor().clone();
                *v = Value::from(MASK);
                *v.decor_mut() = decor;
                masked.push(format!("[{}] {key}", path.join(".")));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::parse;
    use crate::profile::s3::GuestCredentials;
    use std::path::Path;

    fn with_secrets() -> Profile {
        let mut p = Profile::default();
        for (k, v) in [
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("AWS_SESSION_TOKEN", "FwoGZXIvYXdzE"),
            ("DB_PASSWORD", "hunter2"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ] {
            p.tool.env.insert(k.into(), v.into());
        }
        p
    }

    #[test]
    fn secret_keys() {
        for k in [
            "AWS_SECRET_ACCESS_KEY",
            "aws_session_token",
            "password",
            "GITHUB_TOKEN",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "secret_access_key_env",
            "session_token_env",
            "AWS_ACCESS_KEY_ID",
            "bucket",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn masks_secret_values_and_says_which() {
        let shown = to_toml(&with_secrets()).unwrap();
        assert_eq!(
            shown.masked,
            [
                "[tool.env] AWS_SECRET_ACCESS_KEY",
                "[tool.env] AWS_SESSION_TOKEN",
                "[tool.env] DB_PASSWORD"
            ]
        );
        for secret in ["wJalrXUtnFEMI", "FwoGZXIvYXdzE", "hunter2"] {
            assert!(!shown.text.contains(secret), "{}", shown.text);
        }
        assert!(shown.text.contains("AWS_ACCESS_KEY_ID = \"AKIAEXAMPLE\""));
        assert!(shown.text.contains("AWS_SESSION_TOKEN = \"****\""));
        let json = to_json(&with_secrets()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json.text).unwrap();
        assert_eq!(v["tool"]["env"]["DB_PASSWORD"], MASK);
        assert_eq!(json.masked, shown.masked);
    }

    #[test]
    fn variable_names_are_not_masked() {
        let mut p = Profile::default();
        p.s3.backend = crate::profile::Backend::Aws;
        p.s3.guest_credentials = Some(GuestCredentials {
            access_key_id_env: "K".into(),
            secret_access_key_env: "MY_SECRET_VAR".into(),
            session_token_env: Some("MY_TOKEN_VAR".into()),
        });
        let shown = to_toml(&p).unwrap();
        assert!(shown.masked.is_empty(), "{:?}", shown.masked);
        assert!(shown
            .text
            .contains("secret_access_key_env = \"MY_SECRET_VAR\""));
    }

    /// The profile as JSON, with the masked values as `show` prints them.
    fn as_shown(mut p: Profile) -> serde_json::Value {
        for (k, v) in p.tool.env.iter_mut() {
            if is_secret_key(k) {
                *v = MASK.into();
            }
        }
        serde_json::to_value(p).unwrap()
    }

    #[test]
    fn shown_toml_and_json_parse_back_into_the_same_profile() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut profiles = vec![with_secrets()];
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                profiles.push(crate::profile::load(&path).unwrap());
            }
        }
        assert!(profiles.len() > 6);
        for p in profiles {
            let want = as_shown(p.clone());
            let text = to_toml(&p).unwrap().text;
            let back =
                parse(&text, Path::new("shown.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(serde_json::to_value(back).unwrap(), want, "{text}");
            let json: serde_json::Value = serde_json::from_str(&to_json(&p).unwrap().text).unwrap();
            let back: Profile = serde_json::from_value(json).unwrap();
            assert_eq!(serde_json::to_value(back).unwrap(), want);
        }
    }

    #[test]
    fn every_key_is_shown_with_its_default() {
        let text = to_toml(&Profile::default()).unwrap().text;
        let shown: toml::Table = toml::from_str(&text).unwrap();
        for (section, keys) in toml::Table::try_from(Profile::default()).unwrap() {
            for key in keys.as_table().unwrap().keys() {
                assert!(
                    shown[&section].as_table().unwrap().contains_key(key),
                    "[{section}] {key}"
                );
            }
        }
        assert!(
            text.contains("[backup]\nchunk_size_bytes = 8388608\n"),
            "{text}"
        );
        assert!(
            text.contains("integrity_words = []\ncrash_patterns = []\n"),
            "{text}"
        );
    }

    #[test]
    fn crash_patterns_and_words_are_shown_as_written() {
        let mut p = Profile::default();
        p.tool.integrity_words = vec!["Blake3".into(), "does not verify".into()];
        p.tool.crash_patterns = vec![r#"(?m)^Fatal "Python" error: \w+"#.into()];
        let text = to_toml(&p).unwrap().text;
        let back = parse(&text, Path::new("shown.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.tool.integrity_words, p.tool.integrity_words);
        assert_eq!(back.tool.crash_patterns, p.tool.crash_patterns);
        let json: serde_json::Value = serde_json::from_str(&to_json(&p).unwrap().text).unwrap();
        assert_eq!(json["tool"]["crash_patterns"][0], p.tool.crash_patterns[0]);
        assert_eq!(json["tool"]["integrity_words"][1], "does not verify");
    }
}
