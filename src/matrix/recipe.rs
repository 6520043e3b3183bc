//! What a case runs: for the scenario that must catch a defect, the profile
//! and the scenarios that make it observable, on a copy of the seeded
//! fixture (setup and seed ran once, before the first case).

/// The scenarios and profile of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// Profile file name in `config/`.
    pub profile: &'static str,
    pub scenarios: &'static [&'static str],
    /// The catching scenario with the variants the catalogue picked
    /// (`s3-errors[stall]`): a case runs only those.
    pub picked: Option<String>,
}

impl Recipe {
    /// What a case of this recipe runs: its scenarios, the catching one
    /// limited to the picked variants.
    pub fn case_scenarios(&self) -> Vec<String> {
        let picked = self
            .picked
            .as_deref()
            .and_then(|p| Some((crate::runner::scenarios::split_variants(p)?.0, p)));
        self.scenarios
            .iter()
            .map(|s| match picked {
                Some((base, p)) if base == *s => p.to_string(),
                _ => s.to_string(),
            })
            .collect()
    }
}

/// Run once per VM before the first case; the result is every case's start.
pub const TEMPLATE: &[&str] = &["setup", "seed"];

/// The recipe for a catching scenario of DEFECTS.md (`name` or
/// `name[variant,...]`), or None when this build has no such scenario (or
/// variant) yet.
pub fn recipe(scenario: &str) -> Option<Recipe> {
    let (base, picked) = match crate::runner::scenarios::split_variants(scenario) {
        Some((base, _)) => (base, Some(scenario.to_string())),
        None => (scenario, None),
    };
    let (profile, scenarios): (&'static str, &'static [&'static str]) = match base {
        "full" => ("defects.toml", &["full", "verify"]),
        "incremental" => ("defects.toml", &["full", "mutate", "incremental", "verify"]),
        // verify after the restore: a tool that deleted the snapshot a
        // restore is compared with is named by verify.retention, while the
        // restore is judged against the harness's own reference.
        "restore" => (
            "defects.toml",
            &["full", "mutate", "incremental", "restore", "verify"],
        ),
        "interrupt" => ("defects.toml", &["full", "interrupt"]),
        "lock-contention" => ("defects.toml", &["lock-contention"]),
        // Two subvolumes: the --subvolume filter's check needs a second.
        "cli-flags" => ("cli.toml", &["cli-flags"]),
        "large" => ("defects.toml", &["full", "large", "verify"]),
        "archive-restore" => (
            "archive.toml",
            &["full", "mutate", "incremental", "archive-restore", "verify"],
        ),
        "instant-restore" => (
            "glacier-ir.toml",
            &["full", "mutate", "incremental", "instant-restore", "verify"],
        ),
        // The fault scenarios make their own backups.
        "ordering" => ("defects.toml", &["ordering"]),
        "no-credentials" => ("defects.toml", &["no-credentials"]),
        "rapid-runs" => ("defects.toml", &["rapid-runs"]),
        "missing-parent" => ("defects.toml", &["missing-parent"]),
        "corruption" => ("defects.toml", &["corruption"]),
        "s3-errors" => ("defects.toml", &["s3-errors"]),
        _ => return None,
    };
    let r = Recipe {
        profile,
        scenarios,
        picked,
    };
    r.case_scenarios()
        .iter()
        .all(|n| crate::runner::scenarios::find(n).is_some())
        .then_some(r)
}

/// The scenarios a case of `names` runs: each name's recipe (what makes it
/// observable: `restore` needs backups to restore), merged in run order.
pub fn cases_of(names: &[String]) -> Vec<String> {
    let wanted: Vec<&str> = names
        .iter()
        .flat_map(|n| match recipe(n) {
            Some(r) => r.scenarios.to_vec(),
            None => vec![n.as_str()],
        })
        .collect();
    let mut out: Vec<String> = order()
        .filter(|n| wanted.contains(n))
        .map(str::to_string)
        .collect();
    // Names without a place in the run order keep theirs, at the end.
    for n in wanted {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out
}

/// Every scenario a recipe may name before the faults group, in the
/// order a baseline runs them.
const ORDER_BEFORE_FAULTS: &[&str] = &[
    "full",
    "mutate",
    "incremental",
    "restore",
    "archive-restore",
    "instant-restore",
    "cli-flags",
    "lock-contention",
];

/// The scenarios a baseline runs after the faults group: each adds tens of
/// MiB to the first subvolume (a backup long enough to interrupt, chunks
/// large enough for multipart), which every later restore of its chain
/// replays and compares (the defects baseline took 699 s with them first,
/// its restores 16-20 s each instead of about 6 s).
const ORDER_AFTER_FAULTS: &[&str] = &["interrupt", "large"];

/// Every scenario a recipe may name, in the order a baseline runs them.
fn order() -> impl Iterator<Item = &'static str> {
    ORDER_BEFORE_FAULTS
        .iter()
        .copied()
        .chain(crate::runner::scenarios::faults::names())
        .chain(ORDER_AFTER_FAULTS.iter().copied())
        .chain(["verify"])
}

/// Scenarios no defect of the catalogue needs that a profile's baseline
/// runs anyway, so the correct tool is held to them in the same run: the
/// rest of the faults group.
const BASELINE_ALSO: &[(&str, &[&str])] = &[("defects.toml", &["network-cut", "power-loss"])];

/// The baseline of `profile` (the correct tool): every scenario any of its
/// recipes runs, its [`BASELINE_ALSO`], and the scenarios its quirk cases
/// run (`quirks`), in the order of the profiles' default run list.
pub fn baseline(profile: &str, recipes: &[&Recipe], quirks: &[&str]) -> Vec<String> {
    let also: &[&str] = BASELINE_ALSO
        .iter()
        .find(|(p, _)| *p == profile)
        .map_or(&[], |(_, a)| a);
    order()
        .filter(|n| {
            also.contains(n)
                || quirks.contains(n)
                || recipes.iter().any(|r| r.scenarios.contains(n))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_name_only_scenarios_that_exist() {
        for sc in [
            "full",
            "incremental",
            "restore",
            "interrupt",
            "cli-flags",
            "lock-contention",
        ] {
            let r = recipe(sc).unwrap_or_else(|| panic!("{sc} has no recipe"));
            assert!(r.scenarios.contains(&sc) || sc == "full", "{sc}: {r:?}");
        }
        assert_eq!(recipe("no-such-scenario"), None);
    }

    #[test]
    fn a_picked_variant_limits_the_catching_scenario_only() {
        let r = recipe("s3-errors[stall]").unwrap();
        assert_eq!(r.case_scenarios(), ["s3-errors[stall]"]);
        let r = recipe("interrupt[SIGKILL]").unwrap();
        assert_eq!(r.case_scenarios(), ["full", "interrupt[SIGKILL]"]);
        // The baseline runs the whole scenario (after the faults group).
        assert_eq!(
            baseline("defects.toml", &[&r], &[]),
            ["full", "network-cut", "power-loss", "interrupt"]
        );
        assert_eq!(recipe("s3-errors[no-such-variant]"), None);
        assert_eq!(recipe("full[stall]"), None);
    }

    #[test]
    fn every_scenario_of_a_recipe_has_a_place_in_the_baseline() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/reference-tool/DEFECTS.md");
        let rows = crate::matrix::table::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        for row in rows {
            if let Some(r) = recipe(&row.scenario) {
                for sc in r.scenarios {
                    assert!(
                        order().any(|n| n == *sc),
                        "{sc} ({}) has no place in order()",
                        row.defect
                    );
                }
            }
        }
    }

    #[test]
    fn a_quirk_case_runs_its_scenarios_with_what_makes_them_observable() {
        let names: Vec<String> = ["corruption", "restore"].map(String::from).to_vec();
        assert_eq!(
            cases_of(&names),
            [
                "full",
                "mutate",
                "incremental",
                "restore",
                "corruption",
                "verify"
            ]
        );
        assert_eq!(cases_of(&["interrupt".to_string()]), ["full", "interrupt"]);
    }

    #[test]
    fn baseline_is_the_union_in_run_order() {
        let a = recipe("restore").unwrap();
        let b = recipe("interrupt").unwrap();
        let c = recipe("full").unwrap();
        assert_eq!(
            baseline("archive.toml", &[&a, &b, &c], &[]),
            [
                "full",
                "mutate",
                "incremental",
                "restore",
                "interrupt",
                "verify"
            ]
        );
        // The faults the catalogue does not need still run in the defects baseline.
        let got = baseline("defects.toml", &[&c], &[]);
        assert_eq!(got, ["full", "network-cut", "power-loss", "verify"]);
        // A quirk's scenarios join its profile's baseline.
        let got = baseline("defects.toml", &[&c], &["cli-flags", "full"]);
        assert_eq!(
            got,
            ["full", "cli-flags", "network-cut", "power-loss", "verify"]
        );
        for (_, also) in BASELINE_ALSO {
            for sc in *also {
                assert!(crate::runner::scenarios::find(sc).is_some(), "{sc}");
            }
        }
    }
}
