//! `vmharness config check|show`: profiles, without booting anything.

use crate::cli::ConfigCommand;
use crate::exit::Outcome;
use crate::profile::{self, show, Backend, Profile};
use anyhow::Result;
use std::path::{Path, PathBuf};

pub fn run(cmd: ConfigCommand) -> Result<Outcome> {
    match cmd {
        ConfigCommand::Check { profile } => check(&profile),
        ConfigCommand::Show { profile, json } => show(profile.as_deref(), json),
    }
}

/// `ok: <file>` for each valid profile, its problems for the others; a
/// configuration error is the harness's input failing (exit 2).
fn check(profiles: &[PathBuf]) -> Result<Outcome> {
    let profiles = profile::paths_or_default(profiles)?;
    let project = crate::paths::project_dir()?;
    let env = |name: &str| std::env::var(name).ok();
    let mut failed = 0;
    for path in &profiles {
        let problems = check_one(path, &project, &env);
        if problems.is_empty() {
            println!("ok: {}", path.display());
        } else {
            failed += 1;
            for p in problems {
                eprintln!("error: {p}");
            }
        }
    }
    if failed == 0 {
        Ok(Outcome::Passed)
    } else {
        eprintln!("{failed} of {} profile(s) invalid", profiles.len());
        Ok(Outcome::HarnessFailed)
    }
}

/// Every problem of one profile (empty: valid): the first parse or
/// validation error, else each problem the host shows.
pub fn check_one(path: &Path, project: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    match profile::load(path) {
        Ok(p) => host_problems(&p, path, project, env),
        Err(e) => vec![format!("{e:#}")],
    }
}

/// What can be checked on this host without a VM: the files the profile
/// names exist and parse, its scenarios run on its backend, and the host
/// variables and URL its S3 backend needs are there.
pub fn host_problems(
    p: &Profile,
    path: &Path,
    project: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let f = path.display();
    let mut out = Vec::new();
    let source = project.join(&p.tool.source_dir);
    if !source.is_dir() {
        out.push(format!(
            "profile {f}: [tool] source_dir: {} is not a directory (relative paths start at {})",
            source.display(),
            project.display()
        ));
    }
    if let Err(e) = crate::verify::schema::Schemas::for_profile(p, project) {
        out.push(format!(
            "profile {f}: [layout] manifest_schema / pointer_schema: {e:#} (relative paths start at {})",
            project.display()
        ));
    }
    let images = project.join("images");
    if let Err(e) = crate::image::recipe::locate(&images, &p.vm.image)
        .and_then(|r| crate::image::recipe::load(&r))
    {
        out.push(format!(
            "profile {f}: [vm] image: {e:#} (the recipes: {})",
            crate::image::recipe::available(&images).join(", ")
        ));
    }
    if let Err(e) = crate::runner::runnable(p, &p.scenarios.run, path) {
        out.push(format!("{e:#}"));
    }
    if let Err(e) = profile::tool_command(&p.tool.cmd, env(profile::CMD_ENV).as_deref()) {
        out.push(format!("profile {f}: {e:#}"));
    }
    out.extend(s3_problems(p, &f.to_string(), env));
    out
}

/// The aws and endpoint backends: the host variables `[s3.guest_credentials]`
/// names are set, and `endpoint_url` is a URL with a host.
fn s3_problems(p: &Profile, f: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    if p.s3.backend == Backend::Embedded {
        return out;
    }
    if let Some(g) = &p.s3.guest_credentials {
        let vars = [
            ("access_key_id_env", Some(&g.access_key_id_env)),
            ("secret_access_key_env", Some(&g.secret_access_key_env)),
            ("session_token_env", g.session_token_env.as_ref()),
        ];
        for (key, var) in vars {
            let Some(var) = var else { continue };
            if env(var).is_none_or(|v| v.is_empty()) {
                out.push(format!(
                    "profile {f}: [s3.guest_credentials] {key} names {var}, which is not set on this host: \
                     export {var} before the run"
                ));
            }
        }
    }
    if let Some(url) = &p.s3.endpoint_url {
        let ok = url
            .parse::<http::Uri>()
            .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()));
        if !ok {
            out.push(format!(
                "profile {f}: [s3] endpoint_url {url:?} is not a URL with a host, like \"http://127.0.0.1:9000\""
            ));
        }
    }
    out
}

/// The effective profile, secrets masked; the masked keys are named (a
/// TOML comment, or a line on stderr with --json).
fn show(path: Option<&Path>, json: bool) -> Result<Outcome> {
    let path = profile::path_or_default(path)?;
    let p = profile::load(&path)?;
    let masked_note = |masked: &[String]| format!("masked secret values: {}", masked.join(", "));
    if json {
        let shown = show::to_json(&p)?;
        if !shown.masked.is_empty() {
            eprintln!("{}", masked_note(&shown.masked));
        }
        print!("{}", shown.text);
    } else {
        let shown = show::to_toml(&p)?;
        println!(
            "# The effective profile {} (every key, defaults filled in).",
            path.display()
        );
        if !shown.masked.is_empty() {
            println!("# {}", masked_note(&shown.masked));
        }
        print!("\n{}", shown.text);
    }
    Ok(Outcome::Passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn every_profile_in_config_passes_check() {
        let mut n = 0;
        for entry in std::fs::read_dir(project().join("config")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let problems = check_one(&path, &project(), &no_env);
                assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
                n += 1;
            }
        }
        assert!(n >= 6, "only {n} profiles in config/");
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("p.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn parse_errors_come_first_and_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[backup]\nchunk_sise_bytes = 1\n");
        let problems = check_one(&path, &project(), &no_env);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("did you mean `chunk_size_bytes`?"),
            "{problems:?}"
        );
    }

    #[test]
    fn host_problems_name_each_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[vm]\nimage = \"debian-99\"\n\
             [tool]\nsource_dir = \"no-such-tool\"\n\
             [layout]\nmanifest_schema = \"expected/nope.json\"\n\
             [s3]\nbackend = \"endpoint\"\nendpoint_url = \"http://\"\n\
             [s3.guest_credentials]\naccess_key_id_env = \"VMH_TEST_K\"\nsecret_access_key_env = \"VMH_TEST_S\"\n\
             [scenarios]\nrun = [\"setup\", \"interrupt\"]\n",
        );
        let env = |name: &str| (name == "VMH_TEST_K").then(|| "AKIA".to_string());
        let problems = check_one(&path, &project(), &env);
        let all = problems.join("\n");
        for want in [
            "[tool] source_dir:",
            "[layout] manifest_schema / pointer_schema:",
            "[vm] image:",
            "cannot run scenario(s) interrupt",
            "[s3.guest_credentials] secret_access_key_env names VMH_TEST_S, which is not set on this host",
            "[s3] endpoint_url \"http://\" is not a URL with a host",
        ] {
            assert!(all.contains(want), "{want}:\n{all}");
        }
        assert!(!all.contains("VMH_TEST_K,"), "{all}");
        assert_eq!(problems.len(), 6, "{all}");
        assert!(
            problems
                .iter()
                .all(|p| p.contains(&path.display().to_string())),
            "{all}"
        );
    }

    #[test]
    fn a_bad_tool_command_override_is_reported() {
        let p = Profile::default();
        let env = |name: &str| (name == profile::CMD_ENV).then(|| "python3 -m x".to_string());
        let problems = host_problems(&p, Path::new("t.toml"), &project(), &env);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(profile::CMD_ENV), "{problems:?}");
    }
}
