//! Running the matrix: one session (VM) per profile, the template fixture,
//! then the baseline and every defect case on copies of it.

use super::judge::{judge, CaseResult, Expect};
use super::quirks::{self, QuirkRow};
use super::recipe::{self, Recipe};
use super::table::{self, DefectRow};
use crate::events::{self, Scope};
use crate::exit::Outcome;
use crate::runner::{self, RunOptions, Session};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// What the command line gives the matrix.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    pub run: RunOptions,
    /// The catalogue (DEFECTS.md).
    pub catalogue: PathBuf,
    /// Only these defects (all when empty).
    pub only: Vec<String>,
    /// VMs at once (None: from cores and memory).
    pub jobs: Option<usize>,
    /// Write the detection table into this page of the book (between its
    /// markers).
    pub update_docs: Option<PathBuf>,
    /// The quirk catalogue (QUIRKS.md): each quirk a case, and every
    /// baseline runs with all of them on. None: no quirks.
    pub quirks: Option<PathBuf>,
}

/// A defect whose catching scenario this build does not have.
#[derive(Debug, Clone, Serialize)]
pub struct NotCovered {
    pub defect: String,
    pub scenario: String,
}

/// `matrix.json`.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixReport {
    pub catalogue: String,
    pub seconds: f64,
    pub cases: Vec<CaseResult>,
    pub not_covered: Vec<NotCovered>,
    /// Errors that stopped a whole profile's cases.
    pub harness_errors: Vec<String>,
    /// Cases whose first run ended in a harness error (the VM died, a disk
    /// did not show up): each ran once more, on a VM started afresh or a
    /// sound one of its profile, and the second run's result is the case's.
    pub retried: Vec<String>,
    /// Quirk code paths (`quirk:where`) of the catalogue that no baseline
    /// (all quirks on) showed: the quirks did not really run.
    pub quirks_unproven: Vec<String>,
    /// VMs started and their boot seconds (each resumed, or booted cold).
    pub vm_starts: u32,
    pub boot_seconds: f64,
    pub jobs: usize,
}

impl MatrixReport {
    pub fn outcome(&self) -> Outcome {
        if !self.harness_errors.is_empty() || self.cases.iter().any(|c| !c.harness.is_empty()) {
            Outcome::HarnessFailed
        } else if self.cases.iter().any(|c| !c.held()) || !self.quirks_unproven.is_empty() {
            Outcome::ToolFailed
        } else {
            Outcome::Passed
        }
    }
}

/// The cases of each profile file, in catalogue order: defects, then quirks.
#[derive(Default)]
struct Group {
    defects: Vec<(DefectRow, Recipe)>,
    quirks: Vec<QuirkRow>,
}

type Groups = BTreeMap<String, Group>;

/// The rows to run, grouped by profile, and the rows no scenario covers yet.
fn plan(rows: Vec<DefectRow>, quirks: Vec<QuirkRow>) -> (Groups, Vec<NotCovered>) {
    let mut groups = Groups::new();
    let mut not_covered = Vec::new();
    for row in rows {
        match recipe::recipe(&row.scenario) {
            Some(r) => groups
                .entry(r.profile.to_string())
                .or_default()
                .defects
                .push((row, r)),
            None => not_covered.push(NotCovered {
                defect: row.defect,
                scenario: row.scenario,
            }),
        }
    }
    for q in quirks {
        groups.entry(q.profile.clone()).or_default().quirks.push(q);
    }
    (groups, not_covered)
}

pub fn run(opts: &MatrixOptions) -> Result<Outcome> {
    let started = Instant::now();
    let text = std::fs::read_to_string(&opts.catalogue)
        .with_context(|| format!("reading the defect catalogue {}", opts.catalogue.display()))?;
    let mut rows = table::parse(&text).with_context(|| format!("{}", opts.catalogue.display()))?;
    if !opts.only.is_empty() {
        let unknown: Vec<&String> = opts
            .only
            .iter()
            .filter(|n| !rows.iter().any(|r| &r.defect == *n) && !quirk_named(opts, n))
            .collect();
        if !unknown.is_empty() {
            bail!("defect(s) not in {}: {unknown:?}", opts.catalogue.display());
        }
        rows.retain(|r| opts.only.contains(&r.defect));
    }
    let also =
        table::consequences(&text).with_context(|| format!("{}", opts.catalogue.display()))?;
    let quirk_rows = match &opts.quirks {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the quirk catalogue {}", path.display()))?;
            let mut q = quirks::parse(&text).with_context(|| format!("{}", path.display()))?;
            if !opts.only.is_empty() {
                q.retain(|r| opts.only.contains(&r.quirk));
            }
            q
        }
        None => Vec::new(),
    };
    let all_proof: Vec<String> = quirk_rows.iter().flat_map(QuirkRow::proof_keys).collect();
    let (groups, not_covered) = plan(rows, quirk_rows);
    let dir = opts
        .run
        .runs_dir
        .join(format!("matrix-{}", crate::vm::files::new_run_id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut report = MatrixReport {
        catalogue: opts.catalogue.display().to_string(),
        seconds: 0.0,
        cases: Vec::new(),
        not_covered,
        harness_errors: Vec::new(),
        retried: Vec::new(),
        quirks_unproven: Vec::new(),
        vm_starts: 0,
        boot_seconds: 0.0,
        jobs: 0,
    };
    let config = crate::paths::project_dir()?.join("config");
    let units = units(&groups);
    let mut vm_memory = 0;
    let with_quirks = opts.quirks.is_some();
    for profile in groups.keys() {
        vm_memory = vm_memory.max(crate::profile::load(&config.join(profile))?.vm.memory_mib);
    }
    let jobs = crate::jobs::here(opts.jobs, vm_memory);
    let workers = jobs.n.min(units.len()).max(1);
    events::progress(
        Scope::Matrix(None),
        format!(
            "{} case(s) on {workers} VM(s) at once: {}",
            units.len(),
            jobs.reason
        ),
    );
    let mut run_opts = opts.run.clone();
    run_opts.runs_dir = dir.clone();
    let pool = Pool {
        queue: Mutex::new(units.into()),
        results: Mutex::new(Vec::new()),
        errors: Mutex::new(Vec::new()),
        retried: Mutex::new(Vec::new()),
        broken: Mutex::new(BTreeSet::new()),
        boots: Mutex::new(Vec::new()),
    };
    std::thread::scope(|scope| {
        for w in 1..=workers {
            let (pool, run_opts, config, also) = (&pool, &run_opts, &config, &also);
            scope.spawn(move || worker(w, pool, run_opts, config, also, with_quirks));
        }
    });
    let mut results = locked(&pool.results).clone();
    results.sort_by_key(|(order, _)| *order);
    report.cases = results.into_iter().map(|(_, r)| r).collect();
    // The baselines ran with every quirk on: each quirk's code paths must show.
    if with_quirks && !report.cases.is_empty() {
        let seen: BTreeSet<&String> = report
            .cases
            .iter()
            .filter(|c| c.case == "baseline")
            .flat_map(|c| &c.quirk_paths)
            .collect();
        report.quirks_unproven = all_proof
            .into_iter()
            .filter(|k| !seen.contains(k))
            .collect();
    }
    report.harness_errors = locked(&pool.errors).clone();
    if crate::signals::interrupted() {
        let left = locked(&pool.queue).len();
        report.harness_errors.push(format!(
            "{}: {left} case(s) not run",
            crate::signals::Interrupted::now()
        ));
    }
    report.retried = locked(&pool.retried).clone();
    let boots = locked(&pool.boots).clone();
    report.vm_starts = u32::try_from(boots.len()).unwrap_or(u32::MAX);
    report.boot_seconds = boots.iter().sum();
    report.jobs = workers;
    report.seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&report)? + "\n";
    std::fs::write(dir.join("matrix.json"), json)?;
    let table = super::detection::render(&report, &crate::util::now_rfc3339()[..10]);
    std::fs::write(dir.join("detection.md"), &table)?;
    if let Some(page) = &opts.update_docs {
        super::detection::update_page(page, &table)?;
        events::progress(
            Scope::Matrix(None),
            format!("detection table written to {}", page.display()),
        );
    }
    events::emit(events::Event::Report {
        text: format!("{}\nreports: {}", render(&report), dir.display()),
    });
    Ok(report.outcome())
}

/// One case to run: a defect, a quirk, or the baseline of its profile.
#[derive(Clone)]
struct Unit<'a> {
    /// Position in the matrix (baseline first per profile, then catalogue order).
    order: usize,
    profile: &'a str,
    row: Option<&'a DefectRow>,
    quirk: Option<&'a QuirkRow>,
    scenarios: Vec<String>,
    /// Checks the profile's defects must make warn: the baseline (and a
    /// quirk, which is correct too) must not warn there.
    soft: Vec<String>,
    /// This is the second run: the harness error that ended the first.
    retry_of: Option<String>,
}

impl Unit<'_> {
    /// `baseline`, the defect, or `quirk:<name>`.
    fn name(&self) -> String {
        match (self.row, self.quirk) {
            (Some(r), _) => r.defect.clone(),
            (None, Some(q)) => format!("quirk:{}", q.quirk),
            (None, None) => "baseline".into(),
        }
    }
}

/// Every case of every profile, in matrix order.
fn units(groups: &Groups) -> Vec<Unit<'_>> {
    let mut out = Vec::new();
    for (profile, g) in groups {
        let recipes: Vec<&Recipe> = g.defects.iter().map(|(_, r)| r).collect();
        let soft: Vec<String> = g
            .defects
            .iter()
            .filter(|(row, _)| row.verdict == crate::verify::Verdict::Warn)
            .map(|(row, _)| row.check.clone())
            .collect();
        let quirk_scenarios: Vec<String> = g
            .quirks
            .iter()
            .flat_map(|q| recipe::cases_of(&q.scenarios))
            .collect();
        let also: Vec<&str> = quirk_scenarios.iter().map(String::as_str).collect();
        out.push(Unit {
            order: out.len(),
            profile,
            row: None,
            quirk: None,
            scenarios: recipe::baseline(profile, &recipes, &also),
            soft: soft.clone(),
            retry_of: None,
        });
        for (row, r) in &g.defects {
            out.push(Unit {
                order: out.len(),
                profile,
                row: Some(row),
                quirk: None,
                scenarios: r.case_scenarios(),
                soft: Vec::new(),
                retry_of: None,
            });
        }
        for q in &g.quirks {
            out.push(Unit {
                order: out.len(),
                profile,
                row: None,
                quirk: Some(q),
                scenarios: recipe::cases_of(&q.scenarios),
                soft: soft.clone(),
                retry_of: None,
            });
        }
    }
    out
}

/// What the VMs running cases share.
struct Pool<'a> {
    queue: Mutex<VecDeque<Unit<'a>>>,
    results: Mutex<Vec<(usize, CaseResult)>>,
    errors: Mutex<Vec<String>>,
    retried: Mutex<Vec<String>>,
    /// Profiles whose VM or template failed: their remaining cases are not run.
    broken: Mutex<BTreeSet<String>>,
    /// Boot seconds of every VM started.
    boots: Mutex<Vec<f64>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The next case for a VM: one of the profile it already runs, else the
/// first waiting.
fn take<'a>(queue: &mut VecDeque<Unit<'a>>, profile: Option<&str>) -> Option<Unit<'a>> {
    let same = profile.and_then(|p| queue.iter().position(|u| u.profile == p));
    queue.remove(same.unwrap_or(0))
}

/// One VM's loop: take cases, (re)start the VM with the template fixture
/// when the profile changes, run each case on a copy of the template.
fn worker(w: usize, pool: &Pool, opts: &RunOptions, config: &Path, also: &Also, quirks: bool) {
    let mut current: Option<(String, Session)> = None;
    let stop = |current: &mut Option<(String, Session)>| {
        if let Some((p, s)) = current.take() {
            if let Err(e) = s.finish() {
                locked(&pool.errors).push(format!("profile {p} (vm {w}): stopping the VM: {e:#}"));
            }
        }
    };
    loop {
        if crate::signals::interrupted() {
            break;
        }
        let unit = take(
            &mut locked(&pool.queue),
            current.as_ref().map(|c| c.0.as_str()),
        );
        let Some(unit) = unit else { break };
        if locked(&pool.broken).contains(unit.profile) {
            continue;
        }
        if current.as_ref().map(|c| c.0.as_str()) != Some(unit.profile) {
            stop(&mut current);
            // A VM or template that failed is the harness's trouble: one
            // more try on a new VM before the profile's cases are given up.
            let profile = config.join(unit.profile);
            let started = start_vm(&profile, opts).or_else(|e| {
                if crate::signals::interrupted() {
                    return Err(e);
                }
                events::progress(
                    Scope::Matrix(Some(w)),
                    format!(
                        "profile {}: {e:#}; trying once more on a new VM",
                        unit.profile
                    ),
                );
                locked(&pool.retried).push(format!("profile {} (vm {w}): {e:#}", unit.profile));
                start_vm(&profile, opts)
            });
            match started {
                Ok(s) => {
                    locked(&pool.boots).push(s.boot_seconds);
                    current = Some((unit.profile.to_string(), s));
                }
                Err(e) => {
                    locked(&pool.errors).push(format!("profile {} (vm {w}): {e:#}", unit.profile));
                    locked(&pool.broken).insert(unit.profile.to_string());
                    continue;
                }
            }
        }
        let Some((_, s)) = current.as_mut() else {
            continue;
        };
        let result = run_case(w, s, &config.join(unit.profile), &unit, also, quirks);
        let name = unit.name();
        let order = unit.order;
        match after_case(unit, result, crate::signals::interrupted()) {
            Next::Record(r) => locked(&pool.results).push((order, r)),
            Next::Again(unit) => {
                let error = unit.retry_of.clone().unwrap_or_default();
                events::progress(
                    Scope::Matrix(Some(w)),
                    format!("case {name}: harness error, running it again: {error}"),
                );
                locked(&pool.retried).push(format!("case {name} (vm {w}): {error}"));
                locked(&pool.queue).push_front(unit);
                // The VM may be in any state: the next case gets a new one.
                stop(&mut current);
            }
            Next::Error(e) => {
                locked(&pool.errors).push(format!("case {name} (vm {w}): {e}"));
                stop(&mut current);
            }
            Next::RecordAndRestart(r) => {
                locked(&pool.results).push((order, r));
                stop(&mut current);
            }
        }
    }
    stop(&mut current);
}

type Also = BTreeMap<String, Vec<String>>;

/// What a worker does once a case has run.
enum Next<'a> {
    /// Its result stands.
    Record(CaseResult),
    /// Its first run ended in a harness error: run it once more.
    Again(Unit<'a>),
    /// A harness error that is not run again (a second one, or one after a
    /// signal): that result stands, and the VM is replaced.
    RecordAndRestart(CaseResult),
    /// A run that is not run again and could not even report.
    Error(String),
}

/// A harness error (the VM died, a disk did not show up) is not the
/// case's: its first one gets the case run again; a second one stands, and
/// so does any after a signal (`interrupted`: nothing runs again).
fn after_case<'a>(unit: Unit<'a>, result: Result<CaseResult>, interrupted: bool) -> Next<'a> {
    let error = match &result {
        Ok(r) if r.harness.is_empty() => None,
        Ok(r) => Some(r.harness.join("; ")),
        Err(e) => Some(format!("{e:#}")),
    };
    match (error, unit.retry_of.is_some() || interrupted, result) {
        (None, _, Ok(r)) => Next::Record(r),
        (Some(error), false, _) => Next::Again(Unit {
            retry_of: Some(error),
            ..unit
        }),
        (_, _, Ok(r)) => Next::RecordAndRestart(r),
        (_, _, Err(e)) => Next::Error(format!("{e:#}")),
    }
}

/// A VM for a profile, with its seeded fixture kept as the cases' template.
fn start_vm(profile: &Path, opts: &RunOptions) -> Result<Session> {
    let mut s = Session::open(profile, opts)?;
    match make_template(&mut s, profile) {
        Ok(()) => Ok(s),
        Err(e) => {
            let _ = s.finish();
            Err(e)
        }
    }
}

fn make_template(s: &mut Session, profile: &Path) -> Result<()> {
    let template = runner::execute(s, runner::choose(recipe::TEMPLATE, profile)?);
    let problems: Vec<String> = template
        .reports
        .iter()
        .flat_map(|r| {
            r.infra_error.iter().cloned().chain(
                r.checks
                    .iter()
                    .filter(|c| c.verdict != crate::verify::Verdict::Pass)
                    .map(|c| format!("{}: {}", c.name, c.diagnosis)),
            )
        })
        .collect();
    if !problems.is_empty() {
        bail!(
            "the template fixture could not be made: {}",
            problems.join("; ")
        );
    }
    s.keep_fixture_as_template()
}

/// One case on a fresh copy of the template, judged.
fn run_case(
    w: usize,
    s: &mut Session,
    profile: &Path,
    unit: &Unit,
    also: &Also,
    quirks: bool,
) -> Result<CaseResult> {
    let name = unit.name();
    // Under the VM's own run directory (the session's moves to each case's).
    let case_dir =
        s.vm.config()
            .run_dir
            .join("cases")
            .join(name.replace(':', "-"));
    let defect = unit.row.map_or(String::new(), |r| r.defect.clone());
    // The baseline is the correct tool with every legal quirk on at once.
    let quirk = match (unit.row, unit.quirk) {
        (_, Some(q)) => q.quirk.clone(),
        (None, None) if quirks => quirks::ALL.to_string(),
        _ => String::new(),
    };
    events::progress(
        Scope::Matrix(Some(w)),
        format!("case {name}: {}", unit.scenarios.join(" ")),
    );
    let started_at = crate::util::now_rfc3339();
    let t = Instant::now();
    let env = [
        (super::DEFECT_ENV.to_string(), defect),
        (quirks::QUIRK_ENV.to_string(), quirk),
    ];
    s.begin_case(&case_dir, &env)
        .with_context(|| format!("preparing case {name}"))?;
    let ex = runner::execute(s, runner::choose(&unit.scenarios, profile)?);
    let mut report = runner::run_report(s, profile, started_at, ex.phases, ex.reports);
    report.seconds = t.elapsed().as_secs_f64();
    crate::report::write_all(&case_dir, &report)?;
    let expect = match unit.row {
        Some(row) => Expect::Defect {
            row,
            also: also.get(&name).map(Vec::as_slice).unwrap_or_default(),
        },
        None => Expect::Baseline { soft: &unit.soft },
    };
    let mut r = judge(&report, expect, &case_dir.display().to_string());
    r.quirk_paths = s.quirk_paths.iter().cloned().collect();
    if let Some(q) = unit.quirk {
        r.case = name.clone();
        r.scenario = unit.scenarios.join(" ");
        r.unproven = q
            .proof_keys()
            .into_iter()
            .filter(|k| !s.quirk_paths.contains(k))
            .collect();
    }
    events::progress(
        Scope::Matrix(Some(w)),
        format!("case {name}: {} in {:.0}s", summary(&r), r.seconds),
    );
    Ok(r)
}

fn summary(r: &CaseResult) -> String {
    let mut s = if r.held() {
        "held".to_string()
    } else if !r.unproven.is_empty() {
        format!("QUIRK NOT PROVEN: never logged {}", r.unproven.join(", "))
    } else if !r.harness.is_empty() {
        format!("HARNESS ERROR: {}", r.harness.join("; "))
    } else if !r.caught {
        format!(
            "NOT CAUGHT: {} expected {}, got {:?}",
            r.check.as_deref().unwrap_or_default(),
            r.expected.as_deref().unwrap_or_default(),
            r.got
        )
    } else {
        "caught, but".to_string()
    };
    if !r.unrelated.is_empty() {
        s.push_str(&format!(
            " — other checks failed: {}",
            r.unrelated.join("; ")
        ));
    }
    s
}

/// Whether `name` is a quirk of the catalogue (for `--only`).
fn quirk_named(opts: &MatrixOptions, name: &str) -> bool {
    opts.quirks
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| quirks::parse(&t).ok())
        .is_some_and(|rows| rows.iter().any(|r| r.quirk == name))
}

/// The matrix as a table: one line per case, then what is not covered.
pub fn render(r: &MatrixReport) -> String {
    let mut out = format!(
        "{:<30} {:<16} {:<40} {:<6} {:>6}  result\n",
        "case", "scenario", "check", "want", "secs"
    );
    for c in &r.cases {
        out.push_str(&format!(
            "{:<30} {:<16} {:<40} {:<6} {:>6.0}  {}\n",
            c.case,
            c.scenario,
            c.check.as_deref().unwrap_or("(every check passes)"),
            c.expected.as_deref().unwrap_or("pass"),
            c.seconds,
            summary(c)
        ));
    }
    for n in &r.not_covered {
        out.push_str(&format!(
            "{:<30} {:<16} not covered: this build has no scenario {}\n",
            n.defect, n.scenario, n.scenario
        ));
    }
    for e in &r.harness_errors {
        out.push_str(&format!("harness error: {e}\n"));
    }
    for e in &r.retried {
        out.push_str(&format!(
            "run again after a harness error (the table shows the second run): {e}\n"
        ));
    }
    if !r.quirks_unproven.is_empty() {
        out.push_str(&format!(
            "quirk code paths no baseline (every quirk on) showed: {}\n",
            r.quirks_unproven.join(", ")
        ));
    }
    if r.vm_starts > 0 {
        let per = r.boot_seconds / f64::from(r.vm_starts);
        out.push_str(&crate::report::benchmark::boot_per_start_line(
            per,
            r.vm_starts,
        ));
        out.push('\n');
    }
    let held = r.cases.iter().filter(|c| c.held()).count();
    out.push_str(&format!(
        "{held}/{} case(s) held, {} defect(s) not covered, {} VM(s) at once, {:.0}s",
        r.cases.len(),
        r.not_covered.len(),
        r.jobs,
        r.seconds
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Verdict;

    fn row(defect: &str, scenario: &str, verdict: Verdict) -> DefectRow {
        DefectRow {
            defect: defect.into(),
            scenario: scenario.into(),
            check: format!("check.{defect}"),
            verdict,
            needs: String::new(),
        }
    }

    #[test]
    fn each_profile_gets_a_baseline_first_and_vms_keep_their_profile() {
        let quirk = QuirkRow {
            quirk: "q".into(),
            scenarios: vec!["cli-flags".into()],
            profile: "defects.toml".into(),
            proof: vec!["t".into()],
        };
        let (groups, not_covered) = plan(
            vec![
                row("a", "full", Verdict::Fail),
                row("b", "archive-restore", Verdict::Fail),
                row("c", "interrupt", Verdict::Warn),
                row("d", "no-such-scenario", Verdict::Fail),
            ],
            vec![quirk],
        );
        assert_eq!(not_covered.len(), 1);
        let u = units(&groups);
        let names: Vec<(&str, String)> = u.iter().map(|u| (u.profile, u.name())).collect();
        assert_eq!(
            names,
            [
                ("archive.toml", "baseline".to_string()),
                ("archive.toml", "b".into()),
                ("defects.toml", "baseline".into()),
                ("defects.toml", "a".into()),
                ("defects.toml", "c".into()),
                ("defects.toml", "quirk:q".into())
            ]
        );
        assert_eq!(u[2].soft, ["check.c"]);
        assert!(
            u[2].scenarios.contains(&"cli-flags".to_string()),
            "the baseline runs the quirks' scenarios too: {:?}",
            u[2].scenarios
        );
        assert_eq!(
            u[5].scenarios,
            ["cli-flags"],
            "cli-flags needs no backup first"
        );
        assert!(u.iter().enumerate().all(|(i, u)| u.order == i));
        let mut q: VecDeque<Unit> = u.into();
        // A VM on defects.toml takes its profile's next case, not the head.
        let t = take(&mut q, Some("defects.toml")).unwrap();
        assert_eq!((t.profile, t.row.is_none()), ("defects.toml", true));
        // A new VM takes the head.
        assert_eq!(take(&mut q, None).unwrap().profile, "archive.toml");
        // A VM whose profile has nothing left moves on.
        assert_eq!(
            take(&mut q, Some("archive.toml")).unwrap().profile,
            "archive.toml"
        );
        assert_eq!(
            take(&mut q, Some("archive.toml")).unwrap().profile,
            "defects.toml"
        );
        assert_eq!(q.len(), 2);
    }

    fn baseline_unit() -> Unit<'static> {
        Unit {
            order: 3,
            profile: "defects.toml",
            row: None,
            quirk: None,
            scenarios: vec!["full".into()],
            soft: Vec::new(),
            retry_of: None,
        }
    }

    fn result(harness: &[&str]) -> CaseResult {
        CaseResult {
            case: "baseline".into(),
            scenario: "full".into(),
            check: None,
            expected: None,
            got: Vec::new(),
            caught: true,
            unrelated: Vec::new(),
            harness: harness.iter().map(|h| h.to_string()).collect(),
            seconds: 1.0,
            report_dir: "r".into(),
            quirk_paths: Vec::new(),
            unproven: Vec::new(),
        }
    }

    #[test]
    fn a_case_ending_in_a_harness_error_runs_once_more_and_its_second_result_stands() {
        let clean = after_case(baseline_unit(), Ok(result(&[])), false);
        assert!(matches!(clean, Next::Record(r) if r.held()));
        // The VM died before the case could start: once more.
        let Next::Again(again) =
            after_case(baseline_unit(), Err(anyhow::anyhow!("qemu exited")), false)
        else {
            panic!("a first harness error must run the case again");
        };
        assert_eq!(again.retry_of.as_deref(), Some("qemu exited"));
        assert_eq!((again.order, again.name()), (3, "baseline".to_string()));
        // A harness error inside the case's scenarios counts the same.
        let Next::Again(again) = after_case(baseline_unit(), Ok(result(&["ssh lost"])), false)
        else {
            panic!("a first harness error must run the case again");
        };
        // The second run's result stands, whatever it is.
        let held = after_case(again.clone(), Ok(result(&[])), false);
        assert!(matches!(held, Next::Record(r) if r.held()));
        let broken = after_case(again.clone(), Ok(result(&["ssh lost again"])), false);
        assert!(matches!(broken, Next::RecordAndRestart(r) if !r.held()));
        let failed = after_case(again, Err(anyhow::anyhow!("qemu exited again")), false);
        assert!(matches!(failed, Next::Error(e) if e == "qemu exited again"));
        // After a signal nothing runs again: the first error stands.
        let signalled = after_case(baseline_unit(), Err(anyhow::anyhow!("interrupted")), true);
        assert!(matches!(signalled, Next::Error(e) if e == "interrupted"));
        let signalled = after_case(baseline_unit(), Ok(result(&["interrupted"])), true);
        assert!(matches!(signalled, Next::RecordAndRestart(r) if !r.held()));
    }
}
