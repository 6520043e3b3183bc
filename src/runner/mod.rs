//! run-all and run: a session, the profile's scenarios in order, the
//! reports, and the exit code.

mod access;
mod backend_fit;
pub mod background;
pub mod blame;
mod case;
pub mod isolation;
pub mod keep;
mod objects;
pub mod progress;
pub mod scenarios;
pub mod session;
pub mod shard;
pub mod shell_env;
pub mod suite;

pub use session::{RunOptions, Session};

use crate::events::{self, Scope};
use crate::exit::Outcome;
use crate::report::{self, Phase, RunReport, ScenarioReport};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Run `names` (or the profile's list), write the reports, print the table.
pub fn run(profile_path: &Path, opts: &RunOptions, names: Option<&[String]>) -> Result<Outcome> {
    Ok(run_group(profile_path, opts, names)?.outcome)
}

/// What one run (a group of a suite) left.
pub struct GroupDone {
    pub report: RunReport,
    pub run_dir: std::path::PathBuf,
    pub outcome: Outcome,
}

/// `run` with its report and directory.
pub fn run_group(
    profile_path: &Path,
    opts: &RunOptions,
    names: Option<&[String]>,
) -> Result<GroupDone> {
    let started = Instant::now();
    let started_at = crate::util::now_rfc3339();
    let profile = crate::profile::load(profile_path)?;
    // A bad BTRFS_TO_S3_CMD is a usage error: say so before building or booting anything.
    crate::profile::tool::tool_command(&profile.tool.cmd, opts.cmd_override.as_deref())?;
    let list: Vec<String> = match names {
        Some(n) => n.to_vec(),
        None => profile.scenarios.run.clone(),
    };
    let chosen = runnable(&profile, &list, profile_path)?;
    std::fs::create_dir_all(&opts.runs_dir)?;
    let t = Instant::now();
    let image = crate::image::ensure(&profile.vm.image)?;
    let image_seconds = t.elapsed().as_secs_f64();
    let mut s = Session::start(profile_path, profile, &image, opts)?;
    crate::repro::save_profile(profile_path, &s.run_dir)?;
    let _ = report::update_latest(&opts.runs_dir, &s.run_id);
    let mut phases = vec![
        Phase {
            name: "image".into(),
            seconds: image_seconds,
        },
        Phase {
            name: "boot".into(),
            seconds: s.boot_seconds,
        },
    ];
    let executed = execute_until(&mut s, chosen, opts.keep_on_failure);
    phases.extend(executed.phases);
    let mut report = run_report(&s, profile_path, started_at, phases, executed.reports);
    report.skipped_scenarios = executed.skipped;
    report.repro = Some(crate::repro::Repro::of_run(
        &crate::repro::Inputs {
            profile: &s.profile,
            profile_file: &s.run_dir.join(crate::repro::PROFILE_COPY),
            image: &image,
            scenarios: &list,
            overrides: &opts.overrides,
            cmd_override: opts.cmd_override.as_deref(),
            accel: s.plan.vm.accel,
        },
        tool_version(&s.profile),
    ));
    let run_dir = s.run_dir.clone();
    let eval = report::evaluate(&report);
    let kept = match executed.stopped_at {
        Some(failed) if eval.outcome == Outcome::ToolFailed => Some((s, failed)),
        _ => {
            if let Err(e) = s.finish() {
                report
                    .harness_errors
                    .push(format!("stopping the VM: {e:#}"));
            }
            None
        }
    };
    report.seconds = started.elapsed().as_secs_f64();
    report::write_all(&run_dir, &report)?;
    // One write: the groups of a suite print theirs from several threads.
    let mut out = report::table::render(&report);
    let eval = report::evaluate(&report);
    for r in &eval.reasons {
        out.push_str(&format!("\n  {r}"));
    }
    events::emit(events::Event::Report {
        text: format!("{out}\nreports: {}", run_dir.display()),
    });
    if let Some((s, failed)) = kept {
        if let Err(e) = keep::hold(s, &failed) {
            events::progress(
                Scope::Run(report.run_id.clone()),
                format!("the kept VM: {e:#}"),
            );
        }
    }
    Ok(GroupDone {
        report,
        run_dir,
        outcome: eval.outcome,
    })
}

/// The scenarios that ran and how long each took.
pub struct Executed {
    pub phases: Vec<Phase>,
    pub reports: Vec<ScenarioReport>,
    /// Scenarios not run because an earlier one failed a check (`--keep-on-failure`).
    pub skipped: Vec<String>,
    /// The scenario and check that stopped the run there, when one did.
    pub stopped_at: Option<String>,
}

/// The scenarios of `names` that this build has and the profile's backend
/// can run (else an error naming the profile and the fix).
pub fn runnable(
    profile: &crate::profile::Profile,
    names: &[impl AsRef<str>],
    profile_path: &Path,
) -> Result<Vec<Box<dyn scenarios::Scenario>>> {
    let chosen = choose(names, profile_path)?;
    if let Some(why) = backend_fit::refusal(profile.s3.backend, &chosen, profile_path) {
        anyhow::bail!(why);
    }
    Ok(chosen)
}

/// The scenarios names, each found or listed as unknown (an error naming the profile).
pub fn choose(
    names: &[impl AsRef<str>],
    profile_path: &Path,
) -> Result<Vec<Box<dyn scenarios::Scenario>>> {
    let mut unknown = Vec::new();
    let mut chosen = Vec::new();
    for n in expand(names) {
        let n = n.as_str();
        match scenarios::find(n) {
            Some(s) => chosen.push(s),
            None => unknown.push(scenarios::unknown_variant(n).unwrap_or_else(|| n.to_string())),
        }
    }
    if !unknown.is_empty() {
        anyhow::bail!(
            "scenario(s) not available in this build: {} (profile {} [scenarios] run)",
            unknown.join(", "),
            profile_path.display()
        );
    }
    Ok(chosen)
}

/// The names with each group replaced by its scenarios: `faults` is the
/// fault scenarios, after `setup` and `seed` unless the list ran them before.
pub fn expand(names: &[impl AsRef<str>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names.iter().map(AsRef::as_ref) {
        if n == scenarios::faults::GROUP {
            for pre in ["setup", "seed"] {
                if !out.iter().any(|o| o == pre) {
                    out.push(pre.into());
                }
            }
            out.extend(scenarios::faults::names().map(str::to_string));
        } else {
            out.push(n.to_string());
        }
    }
    out
}

/// Run scenarios in order on a live session. A scenario that fails or
/// breaks never stops the rest: the state later scenarios build on is
/// rolled back to the last checkpoint, and only a scenario whose
/// prerequisite failed is not judged (its checks skipped, blamed on the
/// tool). Only a harness failure that leaves nothing to roll back to stops
/// the run (the rest reported as not run).
pub fn execute(s: &mut Session, chosen: Vec<Box<dyn scenarios::Scenario>>) -> Executed {
    execute_until(s, chosen, false)
}

/// How a scenario ended, for the scenarios that need it.
#[derive(Debug, Clone)]
enum Ended {
    Passed,
    /// The tool failed it: the first failed check.
    ToolFailed(String),
    /// The harness could not carry it out.
    HarnessFailed,
}

/// Why `sc` cannot be judged after the scenarios that ran before it.
fn prerequisite_failed(
    sc: &dyn scenarios::Scenario,
    ended: &BTreeMap<String, Ended>,
) -> Option<(String, Ended)> {
    sc.needs().iter().find_map(|need| match ended.get(*need) {
        Some(e @ (Ended::ToolFailed(_) | Ended::HarnessFailed)) => {
            Some((need.to_string(), e.clone()))
        }
        _ => None,
    })
}

/// `execute`; with `stop_at_failure`, the scenarios after the first one
/// that failed a check are skipped (listed in `skipped`, not reported).
pub fn execute_until(
    s: &mut Session,
    chosen: Vec<Box<dyn scenarios::Scenario>>,
    stop_at_failure: bool,
) -> Executed {
    s.planned = chosen.iter().map(|c| c.name().to_string()).collect();
    let mut phases = Vec::new();
    let mut reports = Vec::new();
    let mut broken: Option<String> = None;
    let mut skipped = Vec::new();
    let mut stopped_at: Option<String> = None;
    let mut ended: BTreeMap<String, Ended> = BTreeMap::new();
    let last = chosen.len().saturating_sub(1);
    // A case that starts on a seeded fixture can be rolled back to its start.
    if s.vm.state().fixture_serial.is_some() && s.checkpoints.latest_after().is_none() {
        if let Err(e) = s.checkpoint("the start") {
            broken = Some(format!(
                "the starting state could not be checkpointed: {e:#}"
            ));
        }
    }
    for (i, sc) in chosen.into_iter().enumerate() {
        let name = sc.name().to_string();
        if stopped_at.is_some() {
            skipped.push(name);
            continue;
        }
        let expected = sc.expected_checks(s);
        if broken.is_none() && crate::signals::interrupted() {
            broken = Some(crate::signals::Interrupted::now().to_string());
        }
        if let Some(why) = &broken {
            reports.push(not_run(name, expected, format!("not run: {why}")));
            continue;
        }
        match prerequisite_failed(sc.as_ref(), &ended) {
            Some((need, Ended::HarnessFailed)) => {
                ended.insert(name.clone(), Ended::HarnessFailed);
                reports.push(not_run(
                    name,
                    expected,
                    format!("not run: the scenario it builds on, {need}, could not be carried out"),
                ));
                continue;
            }
            Some((need, Ended::ToolFailed(by))) => {
                let why = format!("{need}, which it builds on, failed ({by})");
                let checks = expected
                    .iter()
                    .map(|c| crate::verify::Check::blocked(c, &by, why.clone()))
                    .collect();
                events::progress(
                    Scope::Run(s.run_id.clone()),
                    format!("scenario {name}: not judged: {why}"),
                );
                ended.insert(name.clone(), Ended::ToolFailed(by));
                reports.push(ScenarioReport {
                    name,
                    seconds: 0.0,
                    expected_checks: expected,
                    checks,
                    infra_error: None,
                    group: None,
                    isolation: None,
                });
                continue;
            }
            _ => {}
        }
        events::emit(events::Event::ScenarioStarted {
            run_id: s.run_id.clone(),
            name: name.clone(),
        });
        let t = Instant::now();
        s.begin_scenario(&name);
        let mut result = sc.run(s);
        let mut replaced = None;
        // A guest that stops answering in the run's first setup (seen under
        // TCG, rarely, while its fixture disk was hot-plugged) is the
        // harness's trouble, and nothing was built in it yet: setup runs once
        // more on a new VM.
        if i == 0 && name == "setup" && !crate::signals::interrupted() {
            if let Err(e) = &result {
                if crate::vm::VmError::is_unresponsive(e) {
                    let first = format!("{e:#}");
                    for text in [first.clone(), "running it again on a new VM".to_string()] {
                        events::progress(
                            Scope::Run(s.run_id.clone()),
                            format!("scenario {name}: {text}"),
                        );
                    }
                    result = match s.replace_vm() {
                        Ok(()) => {
                            s.begin_scenario(&name);
                            replaced = Some(format!(
                                "ran again on a new VM: the first one stopped answering ({})",
                                first.lines().next().unwrap_or_default()
                            ));
                            sc.run(s)
                        }
                        Err(again) => Err(again.context(first)),
                    };
                }
            }
        }
        let (infra_error, broke) = match result {
            Ok(()) => (None, None),
            Err(e) => match blame::classify(&e) {
                blame::Blame::Tool(t) => {
                    let check = blame::precondition_check(&name);
                    let mut c = crate::verify::Check::fail(
                        &check,
                        t.evidence.clone(),
                        format!("{name} could not be carried out: {e:#}"),
                    );
                    c.evidence = t.evidence.clone();
                    s.record(c);
                    (None, Some(check))
                }
                blame::Blame::Harness => (Some(format!("{e:#}")), None),
            },
        };
        if !s.invocations.is_empty() {
            let c = blame::no_crash(&s.invocations);
            s.record(c);
        }
        let mut checks = std::mem::take(&mut s.checks);
        if let Some(by) = &broke {
            // What the scenario could not reach is the tool's doing too.
            for want in &expected {
                if !checks.iter().any(|c| &c.name == want) {
                    checks.push(crate::verify::Check::blocked(
                        want,
                        by,
                        format!("{name} could not be carried out"),
                    ));
                }
            }
        }
        let seconds = t.elapsed().as_secs_f64();
        phases.push(Phase {
            name: name.clone(),
            seconds,
        });
        let strict = s.profile.scenarios.strict;
        let failing: Vec<&str> = checks
            .iter()
            .filter(|c| {
                report::effective_verdict(&c.verdict, strict) == crate::verify::Verdict::Fail
            })
            .map(|c| c.name.as_str())
            .collect();
        let failed = failing.len();
        let end = match (&infra_error, failing.first()) {
            (Some(_), _) => Ended::HarnessFailed,
            (None, Some(first)) => Ended::ToolFailed(format!("{name}: {first}")),
            (None, None) => Ended::Passed,
        };
        if stop_at_failure && infra_error.is_none() {
            if let Some(first) = failing.first() {
                stopped_at = Some(format!("scenario {name} failed check {first}"));
            }
        }
        let line = format!(
            "[run {}] scenario {name}: {} check(s), {failed} failed, {seconds:.1}s{}",
            s.run_id,
            checks.len(),
            infra_error
                .as_deref()
                .map(|e| format!(" — infrastructure error: {e}"))
                .unwrap_or_default()
        );
        events::emit(events::Event::ScenarioEnded {
            run_id: s.run_id.clone(),
            name: name.clone(),
            line,
        });
        // Isolation: what later scenarios build on, kept or put back.
        let unsettled = infra_error.is_some()
            || broke.is_some()
            || s.invocations
                .iter()
                .any(|i| i.crash.is_some() || i.status == "timed out")
            || (!matches!(end, Ended::Passed) && !sc.produces());
        let mut isolation = replaced;
        // After a signal nothing more runs in the guest: no roll-back.
        if stopped_at.is_none() && !sc.read_only() && i < last && !crate::signals::interrupted() {
            if unsettled {
                match s.rollback() {
                    Ok(note) => {
                        events::progress(
                            Scope::Run(s.run_id.clone()),
                            format!("scenario {name}: {note}"),
                        );
                        isolation = Some(note);
                    }
                    Err(e) => {
                        broken = Some(format!(
                            "after {name}, the state could not be rolled back: {e:#}"
                        ));
                    }
                }
            } else if let Err(e) = s.checkpoint(&name) {
                broken = Some(format!(
                    "after {name}, the state could not be checkpointed: {e:#}"
                ));
            }
        }
        ended.insert(name.clone(), end);
        reports.push(ScenarioReport {
            name,
            seconds,
            expected_checks: expected,
            checks,
            infra_error,
            group: None,
            isolation,
        });
    }
    if let Some(why) = &stopped_at {
        if !skipped.is_empty() {
            events::progress(
                Scope::Run(s.run_id.clone()),
                format!("--keep-on-failure: {why}; not run: {}", skipped.join(", ")),
            );
        }
    }
    Executed {
        phases,
        reports,
        skipped,
        stopped_at,
    }
}

/// A scenario the harness could not run, with why.
fn not_run(name: String, expected: Vec<String>, why: String) -> ScenarioReport {
    ScenarioReport {
        name,
        seconds: 0.0,
        expected_checks: expected,
        checks: vec![],
        infra_error: Some(why),
        group: None,
        isolation: None,
    }
}

/// The run's report from the session's facts and the scenarios' reports.
pub fn run_report(
    s: &Session,
    profile_path: &Path,
    started_at: String,
    phases: Vec<Phase>,
    scenarios: Vec<ScenarioReport>,
) -> RunReport {
    RunReport {
        run_id: s.run_id.clone(),
        profile: profile_path.display().to_string(),
        accel: s.plan.vm.accel.to_string(),
        accel_reason: s.plan.accel_reason.clone(),
        image: s.plan.image_name.clone(),
        kernel: s.plan.kernel_release.clone(),
        tool_version: tool_version(&s.profile),
        tool_cmd: s.tool.cmd.clone(),
        seed: s.profile.fixture.seed,
        backend: s.profile.s3.backend.as_str().into(),
        strict: s.profile.scenarios.strict,
        started_at,
        seconds: 0.0,
        phases,
        scenarios,
        transfers: s.transfers.clone(),
        harness_errors: vec![],
        work: s.work.clone(),
        groups: vec![],
        skipped_scenarios: vec![],
        repro: None,
    }
}

/// `git describe --always --dirty --tags` of the tool's source tree, when
/// it is a git checkout (the tree's repository: for the reference tool, the
/// project's own).
pub fn tool_version(profile: &crate::profile::Profile) -> Option<String> {
    let dir = crate::paths::project_dir()
        .ok()?
        .join(&profile.tool.source_dir);
    let out = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--tags"])
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn the_faults_group_expands_after_setup_and_seed() {
        let got = expand(&["faults"]);
        assert_eq!(&got[..2], ["setup", "seed"]);
        assert!(got[2..]
            .iter()
            .map(String::as_str)
            .eq(scenarios::faults::names()));
        let got = expand(&["setup", "seed", "full", "faults", "verify"]);
        assert_eq!(&got[..3], ["setup", "seed", "full"]);
        assert_eq!(got.last().map(String::as_str), Some("verify"));
        assert_eq!(got.iter().filter(|n| *n == "setup").count(), 1);
        for n in scenarios::faults::names() {
            assert!(scenarios::find(n).is_some(), "{n} is not implemented");
        }
    }
    use super::scenarios;
}
