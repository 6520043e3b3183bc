//! A guest that stops answering while its fixture disk is hot-plugged (seen
//! rarely under TCG on a loaded machine): the harness says what QEMU was
//! doing, runs `setup` again on a new VM, and the run goes on as if nothing
//! happened; the frozen QEMU is not left behind.

use crate::common::*;

#[test]
fn a_guest_frozen_at_the_fixture_hotplug_gets_a_new_vm_and_the_run_passes() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let profile = runs.path().join("frozen.toml");
    // The disk wait gives up after 2 s (x5 under TCG), not 20.
    std::fs::write(
        &profile,
        "[vm]\ndisk_timeout_secs = 2\n[btrfs]\nsubvolumes = [\"data\"]\n\
         [fixture]\nscale = \"tiny\"\n[scenarios]\nrun = [\"setup\", \"full\", \"cleanup\"]\n",
    )
    .unwrap();
    let out = vmharness_env(
        runs.path(),
        &[(vmharness::vm::machine::FREEZE_AT_HOTPLUG, "1")],
        &[
            "run",
            "--profile",
            &profile.display().to_string(),
            "setup",
            "full",
            "cleanup",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "the run passes on the new VM");
    // What the first VM was doing when it stopped answering.
    for said in [
        "stopped answering",
        "QEMU's threads over",
        "QMP does not answer",
        "running it again on a new VM",
    ] {
        assert!(err.contains(said), "stderr lacks {said:?}:\n{err}");
    }
    let run = std::fs::canonicalize(runs.path().join("latest")).expect("runs/latest");
    let v = read_results(&run);
    let setup = &v["scenarios"][0];
    assert_eq!(setup["name"], "setup");
    let note = setup["isolation"].as_str().unwrap_or_default();
    assert!(note.contains("ran again on a new VM"), "{setup}");
    assert!(setup["infra_error"].is_null(), "{setup}");
    assert_eq!(v["work"]["vm_starts"], 2, "{}", v["work"]);
    // The first VM's logs are kept beside the second's.
    assert!(run.join("console-unanswered.log").is_file());
    assert!(run.join("qemu-unanswered.argv").is_file());
    let run_id = run.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        qemu_processes_mentioning(&run_id).is_empty(),
        "a QEMU of {run_id} is left"
    );
}
