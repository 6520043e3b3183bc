//! The quirk catalogue as `reference-tool/QUIRKS.md` states it: legal
//! variations of the contract (other wording, another receive path, one
//! multipart part per chunk, concurrent uploads, ...) that the harness must
//! accept. Each row names the scenarios a single quirk runs on, the
//! profile a user of such a tool would write, and the code paths (tags) the
//! reference tool logs when the quirk is active
//! (`event=quirk_path quirk=<name> where=<tag>`), so a case proves the
//! quirk really ran.

use super::table::{table_rows, unquote};
use anyhow::{bail, Context, Result};

/// The reference tool's switch for its legal variations.
pub const QUIRK_ENV: &str = "REFTOOL_QUIRK";

/// The value that switches every quirk of the catalogue on at once.
pub const ALL: &str = "all";

/// The event the reference tool logs once per quirk code path.
pub const PROOF_EVENT: &str = "quirk_path";

/// One row of the catalogue's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuirkRow {
    pub quirk: String,
    /// The scenarios its case runs, in the catalogue's order.
    pub scenarios: Vec<String>,
    /// Profile file name in `config/`.
    pub profile: String,
    /// The `where` tags its case must show.
    pub proof: Vec<String>,
}

impl QuirkRow {
    /// `quirk:where` of every tag, as [`proof_key`] writes them.
    pub fn proof_keys(&self) -> Vec<String> {
        self.proof
            .iter()
            .map(|t| proof_key(&self.quirk, t))
            .collect()
    }
}

/// `quirk:where`: one code path of one quirk.
pub fn proof_key(quirk: &str, tag: &str) -> String {
    format!("{quirk}:{tag}")
}

const HEADER: &[&str] = &["quirk", "changes", "scenarios", "profile", "proof"];

/// Words of a cell: backticks and commas dropped.
fn words(cell: &str) -> Vec<String> {
    cell.split(|c: char| c.is_whitespace() || c == ',' || c == '`')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parse the catalogue's table (`| quirk | changes | scenarios | profile | proof |`).
pub fn parse(text: &str) -> Result<Vec<QuirkRow>> {
    let table = table_rows(text, HEADER)?
        .with_context(|| format!("no table with the header | {} |", HEADER.join(" | ")))?;
    let mut rows = Vec::new();
    for (line, c) in table {
        let row = QuirkRow {
            quirk: unquote(&c[0]),
            scenarios: words(&c[2]),
            profile: unquote(&c[3]),
            proof: words(&c[4]),
        };
        if row.scenarios.is_empty() || row.proof.is_empty() {
            bail!(
                "line {line}: quirk {} names no scenario or no proof tag",
                row.quirk
            );
        }
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("the quirk table has no rows");
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# Quirks

| quirk | changes | scenarios | profile | proof |
|---|---|---|---|---|
| `error-wording` | other words | `corruption no-credentials` | `defects.toml` | `integrity`, `credentials` |
| `direct-receive` | no staging | `restore` | `defects.toml` | `receive` |

More text.
";

    #[test]
    fn rows_give_scenarios_profile_and_proof() {
        let rows = parse(TEXT).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].quirk, "error-wording");
        assert_eq!(rows[0].scenarios, ["corruption", "no-credentials"]);
        assert_eq!(rows[0].profile, "defects.toml");
        assert_eq!(
            rows[0].proof_keys(),
            ["error-wording:integrity", "error-wording:credentials"]
        );
        assert_eq!(rows[1].proof, ["receive"]);
    }

    #[test]
    fn a_row_without_proof_is_an_error() {
        let bad = TEXT.replace("`receive` |", " |");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(
            e.contains("direct-receive names no scenario or no proof tag"),
            "{e}"
        );
    }

    #[test]
    fn the_shipped_catalogue_parses_and_names_known_scenarios() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/reference-tool/QUIRKS.md");
        let rows = parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        for r in &rows {
            for sc in &r.scenarios {
                assert!(
                    crate::runner::scenarios::find(sc).is_some(),
                    "{}: {sc} is not a scenario",
                    r.quirk
                );
            }
            let profile = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config")
                .join(&r.profile);
            assert!(profile.is_file(), "{}: {}", r.quirk, profile.display());
        }
    }
}
