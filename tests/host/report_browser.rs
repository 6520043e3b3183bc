//! report.html in a real browser: runs with a failing check, transfers of
//! two subvolumes, phases and two earlier runs of the same profile are
//! written as results.json files; `vmharness report RUN` writes the page;
//! headless Chromium renders it. The DOM must hold the verdict rows, the
//! failing check's evidence and the charts; the screenshot must show them.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use vmharness::report::{Phase, RunReport, ScenarioReport, Transfer, TransferKind};
use vmharness::verify::{Check, Verdict};

/// The failing check's evidence, looked for in the DOM.
const EVIDENCE: &str = "chunk-7 hashes to deadbeef";
/// The backup bars' colour (report::svg::BACKUP), looked for in the screenshot.
const BACKUP_RGB: [u8; 3] = [0x2b, 0x6c, 0xb0];
const RESTORE_RGB: [u8; 3] = [0x2f, 0x85, 0x5a];

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"]
        .iter()
        .find_map(|p| vmharness::programs::find(p));
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but chromium is missing: install the Debian package chromium (the browser test must not be skipped in CI)");
        }
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium; set CI=1 to make this a failure)");
    }
    found
}

fn transfer(kind: TransferKind, subvolume: &str, mib: u64, seconds: f64) -> Transfer {
    Transfer {
        kind,
        scenario: "full".into(),
        subvolume: subvolume.into(),
        bytes: mib * 1024 * 1024,
        seconds,
        group: None,
    }
}

fn run(id: &str, started_at: &str, seconds: f64, failing: bool) -> RunReport {
    let manifest = if failing {
        Check::new(
            "verify.manifest.sha256",
            Verdict::Fail,
            json!({"problems": [EVIDENCE], "key": "subvol/data/full/chunk-7.bin"}),
            "1 problem(s): chunk 7 hashes to deadbeef, manifest says cafebabe",
        )
    } else {
        Check::pass("verify.manifest.sha256", json!({}), "every chunk matches")
    };
    RunReport {
        run_id: id.into(),
        profile: "config/test.toml".into(),
        accel: "tcg".into(),
        accel_reason: "no /dev/kvm: using TCG".into(),
        image: "debian-13 abc".into(),
        kernel: "6.12.0".into(),
        tool_version: Some("v1.2.3".into()),
        tool_cmd: vec!["python3".into(), "-m".into(), "btrfs_to_s3".into()],
        seed: 1,
        backend: "embedded".into(),
        strict: false,
        started_at: started_at.into(),
        seconds,
        phases: ["image", "boot", "setup", "full", "restore", "verify"]
            .iter()
            .zip([0.1, 2.8, 3.5, 15.0, 9.0, 0.4])
            .map(|(n, s)| Phase {
                name: n.to_string(),
                seconds: s,
            })
            .collect(),
        scenarios: vec![ScenarioReport {
            name: "full".into(),
            seconds: 15.0,
            expected_checks: vec!["verify.layout".into(), "verify.manifest.sha256".into()],
            checks: vec![
                Check::pass("verify.layout", json!({}), "every key follows the layout"),
                manifest,
            ],
            infra_error: None,
            group: None,
            isolation: None,
        }],
        transfers: vec![
            transfer(TransferKind::Backup, "data", 40, 8.0),
            transfer(TransferKind::Backup, "home", 10, 4.0),
            transfer(TransferKind::Restore, "data", 40, 5.0),
            transfer(TransferKind::Restore, "home", 10, 2.0),
        ],
        harness_errors: vec![],
        work: Default::default(),
        groups: vec![],
        skipped_scenarios: vec![],
        repro: None,
    }
}

fn write(runs: &Path, r: &RunReport) {
    let dir = runs.join(&r.run_id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("results.json"),
        vmharness::report::results::to_json(r).unwrap(),
    )
    .unwrap();
}

fn chromium_cmd(exe: &Path, profile_dir: &Path) -> Command {
    let mut c = Command::new(exe);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1280,2400",
    ])
    .arg(format!("--user-data-dir={}", profile_dir.display()));
    c
}

/// Pixels of the screenshot: (all, not white, of `rgb` exactly).
fn pixels(png_path: &Path, colours: &[[u8; 3]]) -> (usize, usize, Vec<usize>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let data = &buf[..info.buffer_size()];
    let mut not_white = 0;
    let mut hits = vec![0; colours.len()];
    for px in data.chunks_exact(step) {
        if px[..3] != [255, 255, 255] {
            not_white += 1;
        }
        for (i, c) in colours.iter().enumerate() {
            if px[..3] == *c {
                hits[i] += 1;
            }
        }
    }
    (data.len() / step, not_white, hits)
}

#[test]
fn report_html_renders_verdicts_evidence_and_charts_in_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    write(
        &runs,
        &run("20240101-000000-aaaa", "2024-01-01T00:00:00Z", 40.0, false),
    );
    write(
        &runs,
        &run("20240102-000000-bbbb", "2024-01-02T00:00:00Z", 35.0, false),
    );
    write(
        &runs,
        &run("20240103-000000-cccc", "2024-01-03T00:00:00Z", 42.0, true),
    );
    // Another profile's run: not part of the trend.
    let mut other = run("20240102-120000-dddd", "2024-01-02T12:00:00Z", 99.0, false);
    other.profile = "config/archive.toml".into();
    write(&runs, &other);

    let out = Command::new(env!("CARGO_BIN_EXE_vmharness"))
        .args(["report", "20240103-000000-cccc"])
        .env("VMHARNESS_RUN_DIR", &runs)
        .output()
        .expect("running vmharness report");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run failed a check: {stdout}"
    );
    assert!(
        stdout.contains("verify.manifest.sha256") && stdout.contains("FAIL"),
        "{stdout}"
    );
    let page = runs.join("20240103-000000-cccc").join("report.html");
    assert!(stdout.contains(&page.display().to_string()), "{stdout}");
    assert!(
        page.is_file(),
        "vmharness report wrote the missing report.html"
    );
    let url = format!("file://{}", page.display());

    let dom = chromium_cmd(&browser, &tmp.path().join("profile-dom"))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("running chromium --dump-dom");
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(dom.contains("</html>"), "chromium printed the DOM: {dom}");
    assert!(
        dom.contains(
            r#"<tr class="check verdict-pass" data-scenario="full" data-check="verify.layout">"#
        ),
        "{dom}"
    );
    assert!(dom.contains(
        r#"<tr class="check verdict-fail" data-scenario="full" data-check="verify.manifest.sha256">"#
    ));
    assert!(
        dom.contains(EVIDENCE),
        "the failing check's evidence is shown"
    );
    assert!(dom.contains("exit 1: the tool under test failed a check"));
    assert_eq!(
        dom.matches(r#"<rect class="bar backup""#).count(),
        2,
        "data and home"
    );
    assert_eq!(dom.matches(r#"<rect class="bar restore""#).count(), 2);
    assert_eq!(
        dom.matches(r#"<rect class="bar seconds""#).count(),
        6,
        "the phases"
    );
    assert!(dom.contains(r#"<svg class="chart trend-seconds""#));
    assert_eq!(
        dom.matches(r#"<circle class="point seconds""#).count(),
        3,
        "two earlier runs of the profile and this one, not the other profile's"
    );
    assert_eq!(dom.matches(r#"<polyline class="line backup""#).count(), 1);
    assert!(
        !dom.contains("dddd"),
        "another profile's run is not in the trend"
    );

    let shot = tmp.path().join("report.png");
    let status = chromium_cmd(&browser, &tmp.path().join("profile-shot"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("running chromium --screenshot");
    assert!(
        shot.is_file(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    if let Some(dir) = std::env::var_os("VMHARNESS_TEST_OUTPUT") {
        let dir = Path::new(&dir);
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::copy(&page, dir.join("report-browser.html"));
        let _ = std::fs::copy(&shot, dir.join("report-browser.png"));
    }
    let (all, not_white, hits) = pixels(&shot, &[BACKUP_RGB, RESTORE_RGB]);
    assert_eq!(all, 1280 * 2400, "the window's size");
    assert!(
        not_white > all / 50,
        "the page is not blank: {not_white} of {all} pixels are not white"
    );
    // The bars are drawn in their colours (each bar is at least 12 px high).
    assert!(hits[0] > 500, "backup bars: {} pixels of #2b6cb0", hits[0]);
    assert!(hits[1] > 500, "restore bars: {} pixels of #2f855a", hits[1]);
}
