//! Shared helpers of the tests that boot VMs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// True when the VM tests can run. Under CI a missing QEMU is a failure, never a skip.
pub fn vm_tests_enabled() -> bool {
    let have_qemu = vmharness::programs::find("qemu-system-x86_64").is_some();
    if !have_qemu {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but qemu-system-x86_64 is missing: install qemu-system-x86 (VM tests must not be skipped in CI)");
        }
        eprintln!("SKIPPED: qemu-system-x86_64 is not installed (set CI=1 to make this a failure)");
        return false;
    }
    true
}

/// The user VM steps run as: `VMHARNESS_TEST_USER` when the tests run as
/// root (CI proves no root is needed), else the current user.
pub fn test_user() -> Option<String> {
    std::env::var("VMHARNESS_TEST_USER")
        .ok()
        .filter(|u| !u.is_empty() && nix::unistd::geteuid().is_root())
}

/// A runs directory the test user can write. Dropping it stops any VM
/// supervisor still running under it (a failed assertion must not leave a
/// VM behind), then removes it.
pub struct RunsDir(tempfile::TempDir);

impl RunsDir {
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for RunsDir {
    fn drop(&mut self) {
        use vmharness::vm::files;
        let owners: Vec<i32> = std::fs::read_dir(self.0.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| files::read_pid(&e.path().join(files::OWNER_PID)))
            // Library VMs are owned by this test process itself: never signal it.
            .filter(|p| *p != std::process::id() as i32 && files::pid_alive(*p))
            .collect();
        for (i, signal) in [
            nix::sys::signal::Signal::SIGTERM,
            nix::sys::signal::Signal::SIGKILL,
        ]
        .into_iter()
        .enumerate()
        {
            for pid in &owners {
                if files::pid_alive(*pid) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), signal);
                }
            }
            let deadline = std::time::Instant::now()
                + std::time::Duration::from_secs(if i == 0 { 20 } else { 5 });
            while owners.iter().any(|p| files::pid_alive(*p))
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

pub fn runs_dir() -> RunsDir {
    let base = std::env::var_os("VMHARNESS_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let d = tempfile::Builder::new()
        .prefix("vmh-test-")
        .tempdir_in(base)
        .expect("temp dir");
    give_to_test_user(d.path());
    RunsDir(d)
}

/// Make `dir` the test user's (when VM steps run as one).
pub fn give_to_test_user(dir: &Path) {
    if let Some(user) = test_user() {
        let u = nix::unistd::User::from_name(&user)
            .expect("lookup user")
            .expect("test user exists");
        nix::unistd::chown(dir, Some(u.uid), Some(u.gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
    }
}

/// A cache of the test's own under `runs` (for `VMHARNESS_CACHE`), sharing
/// the shared cache's images (a link) but nothing else: a test that changes
/// saved states or stored fixtures changes none another test uses.
pub fn private_cache(runs: &Path) -> PathBuf {
    let cache = runs.join("cache");
    std::fs::create_dir_all(&cache).expect("creating the private cache");
    std::os::unix::fs::symlink(vmharness::paths::images_dir(), cache.join("images"))
        .expect("linking the shared images");
    give_to_test_user(&cache);
    cache
}

/// The `results.json` of the run in `run_dir`.
pub fn read_results(run_dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("results.json")).expect("results.json"))
        .expect("results.json is JSON")
}

/// With `VMHARNESS_TEST_OUTPUT` set (CI), append what a `run-all` or
/// `defects` command printed to `<dir>/<subcommand>.txt`, so CI can show the
/// final tables and benchmark figures of runs made inside tests.
fn save_output(args: &[&str], out: &Output) {
    use std::io::Write;
    let (Some(dir), Some(sub)) = (std::env::var_os("VMHARNESS_TEST_OUTPUT"), args.first()) else {
        return;
    };
    if !["run-all", "defects"].contains(sub) {
        return;
    }
    let path = Path::new(&dir).join(format!("{sub}.txt"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path);
    if let Ok(mut f) = file {
        let _ = writeln!(f, "$ vmharness {}  ->  {}", args.join(" "), out.status);
        let _ = f.write_all(&out.stdout);
    }
}

/// With `VMHARNESS_TEST_OUTPUT` set (CI), append how long a VM-using
/// command of the tests took to `<dir>/timings.txt` (CI prints it: the
/// test phase's time, command by command), secret values elided.
fn save_timing(env: &[(&str, &str)], args: &[&str], out: &Output, took: std::time::Duration) {
    use std::io::Write;
    let Some(dir) = std::env::var_os("VMHARNESS_TEST_OUTPUT") else {
        return;
    };
    if took.as_secs() < 20 {
        return;
    }
    // The values of secret keys and tokens are not for a CI log.
    let env: Vec<String> = env
        .iter()
        .map(
            |(k, v)| match ["SECRET", "TOKEN"].iter().any(|s| k.contains(s)) {
                true => format!("{k}=..."),
                false => format!("{k}={v}"),
            },
        )
        .collect();
    let path = Path::new(&dir).join("timings.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(
            f,
            "{:>6.0}s  {}vmharness {}  -> {}",
            took.as_secs_f64(),
            if env.is_empty() {
                String::new()
            } else {
                format!("{} ", env.join(" "))
            },
            args.join(" "),
            out.status
        );
    }
}

/// Run `vmharness ARGS` (as the test user when set) with the runs directory given.
pub fn vmharness(runs: &Path, args: &[&str]) -> Output {
    vmharness_env(runs, &[], args)
}

/// `vmharness` with extra environment variables.
pub fn vmharness_env(runs: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let started = std::time::Instant::now();
    let out = vmharness_command(runs, env, args)
        .output()
        .expect("running vmharness");
    save_output(args, &out);
    save_timing(env, args, &out, started.elapsed());
    eprintln!(
        "$ vmharness {}\n-> {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The command `vmharness ARGS` (as the test user when set, with the runs
/// directory and the extra environment), not started yet.
pub fn vmharness_command(runs: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut vars = vec![("VMHARNESS_RUN_DIR", runs.display().to_string())];
    vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    let mut cmd = as_test_user(
        Path::new(env!("CARGO_BIN_EXE_vmharness")),
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &vars,
    );
    cmd.args(args);
    cmd
}

/// The program `exe` (as the test user when set) in `cwd`, with the shared
/// cache and the environment given; no arguments yet.
pub fn as_test_user(exe: &Path, cwd: &Path, env: &[(&str, String)]) -> Command {
    let mut vars: Vec<(String, String)> = vec![(
        "VMHARNESS_CACHE".into(),
        vmharness::paths::cache_dir().display().to_string(),
    )];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let mut cmd = match test_user() {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", &user, "--", "env"]);
            c.args(vars.iter().map(|(k, v)| format!("{k}={v}")));
            c.arg(exe);
            c
        }
        None => {
            let mut c = Command::new(exe);
            c.envs(vars.iter().map(|(k, v)| (k, v)));
            c
        }
    };
    cmd.current_dir(cwd);
    cmd
}

/// Build (or find) the default image as the invoking user.
pub fn ensure_image() {
    let out = Command::new(env!("CARGO_BIN_EXE_vmharness"))
        .args(["image", "build"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running vmharness image build");
    assert!(
        out.status.success(),
        "image build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The single run directory under `runs`.
pub fn only_run(runs: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .flatten()
        // Not `latest`, a symlink to the run.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "expected one run in {}: {dirs:?}",
        runs.display()
    );
    dirs[0].clone()
}

/// QEMU processes whose command line mentions `needle`.
pub fn qemu_processes_mentioning(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.contains("qemu-system")
                && cmd.contains(needle)
                && vmharness::vm::files::pid_alive(*pid)
        })
        .collect()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A VM booted through the library with the default profile, in a fresh
/// runs directory (kept alive by the returned TempDir).
pub struct LibraryVm {
    pub runs: RunsDir,
    pub run_dir: PathBuf,
    pub profile: vmharness::profile::Profile,
    pub plan: vmharness::plan::BootPlan,
    pub vm: vmharness::vm::Vm,
}

pub fn boot_library_vm(name: &str) -> LibraryVm {
    boot_library_vm_with(name, |_| {})
}

/// The plan of a VM for `profile` with the default overrides and no forwards.
pub fn default_plan(
    profile: &vmharness::profile::Profile,
    run_dir: &Path,
    name: &str,
) -> vmharness::plan::BootPlan {
    let image = vmharness::image::ensure(&profile.vm.image).expect("the image");
    vmharness::plan::plan_boot(
        profile,
        &image,
        &Default::default(),
        run_dir,
        name,
        Vec::new(),
    )
    .expect("plan")
}

/// Like `boot_library_vm`, with a change to the VM's configuration first.
pub fn boot_library_vm_with(
    name: &str,
    adjust: impl FnOnce(&mut vmharness::vm::VmConfig),
) -> LibraryVm {
    ensure_image();
    print_library_events();
    let runs = runs_dir();
    let run_dir = runs.path().join(name);
    let profile = vmharness::profile::Profile::default();
    let mut plan = default_plan(&profile, &run_dir, name);
    adjust(&mut plan.vm);
    let vm = vmharness::vm::Vm::boot(plan.vm.clone()).expect("boot");
    LibraryVm {
        runs,
        run_dir,
        profile,
        plan,
        vm,
    }
}

/// The library's events (why a resume fell back to a cold boot, a state
/// being built) as lines on stderr, where a failing test shows them.
fn print_library_events() {
    struct Stderr;
    impl vmharness::events::Sink for Stderr {
        fn event(&self, e: &vmharness::events::Event) {
            eprintln!("{}", e.line());
        }
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| vmharness::events::set_sink(std::sync::Arc::new(Stderr)));
}

/// The public keys root's sshd accepts: the firmware file's (a guest
/// resumed from a saved state that reads its keys from there) or
/// authorized_keys'.
pub fn accepted_keys(vm: &mut vmharness::vm::Vm) -> Vec<String> {
    let keys = run_in_guest(
        vm,
        &format!(
            "if sshd -T -C user=root,host=h,addr=127.0.0.1 | grep -qix 'authorizedkeysfile none'; \
             then cat {}; else cat /root/.ssh/authorized_keys; fi",
            vmharness::vm::qemu_args::run_key_guest_path()
        ),
    );
    keys.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

/// Run `cmd` in the guest of a library VM (120 s at most); its stdout.
/// Panics, with the command and the error, when it fails.
pub fn run_in_guest(vm: &mut vmharness::vm::Vm, cmd: &str) -> String {
    vm.ssh()
        .run("test", cmd, std::time::Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("`{cmd}`: {e:#}"))
        .stdout_text()
}

/// The embedded endpoint on its own runtime, with a store that lives as long.
pub struct TestEndpoint {
    pub rt: tokio::runtime::Runtime,
    pub ep: vmharness::s3::Endpoint,
    _store: tempfile::TempDir,
}

impl TestEndpoint {
    pub fn start() -> TestEndpoint {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let store = tempfile::tempdir().expect("store dir");
        let ep = rt
            .block_on(vmharness::s3::Endpoint::start(
                vmharness::s3::EndpointConfig::new(store.path()),
            ))
            .expect("endpoint");
        TestEndpoint {
            rt,
            ep,
            _store: store,
        }
    }

    /// Boot a library VM whose only way out is this endpoint.
    pub fn boot_vm(&self, name: &str) -> LibraryVm {
        let relay_exe = PathBuf::from(env!("CARGO_BIN_EXE_vmharness"));
        let port = self.ep.port();
        boot_library_vm_with(name, |cfg| {
            cfg.guestfwd = vec![vmharness::vm::relay::s3_forward(
                &relay_exe,
                &format!("127.0.0.1:{port}"),
            )];
        })
    }

    pub fn shutdown(self) {
        let TestEndpoint { rt, ep, .. } = self;
        rt.block_on(ep.shutdown());
    }
}
