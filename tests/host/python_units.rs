//! The Python unit tests (reference tool, guest fixture program) run with
//! the host's python3 as part of `cargo test`.

use std::process::Command;

fn unittest(args: &[&str]) {
    let start = args[1];
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs (install python3)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python unit tests in {start} failed:\n{err}"
    );
    let ran = err
        .lines()
        .find(|l| l.starts_with("Ran "))
        .unwrap_or("Ran ? tests");
    assert!(!ran.starts_with("Ran 0 "), "{start}: no tests ran");
    eprintln!("{start}: {ran}");
}

#[test]
fn reference_tool_unit_tests() {
    unittest(&["-s", "reference-tool/tests", "-t", "reference-tool"]);
}

#[test]
fn guest_fixture_unit_tests() {
    unittest(&["-s", "guest/tests"]);
}
