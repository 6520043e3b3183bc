//! Serving a live VM to the `vm` commands of other processes (`vm list`,
//! `vm ssh`, `vmharness ssh`, `vm down`): its `vm.json` and its control
//! socket. The supervisor of `vm up` and a run kept after a failure
//! (`--keep-on-failure`) both serve their VM this way.

use super::{files, Vm};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// How serving a VM's control socket ended.
pub enum Served {
    /// `vmharness vm down` asked: stop the VM, then answer `stopped` on this stream.
    Down(UnixStream),
    /// A signal, the VM's death, or a broken socket (the reason).
    Ended(String),
}

/// Make a live VM reachable by the `vm` commands (`vm list`, `vm ssh`,
/// `vmharness ssh`, `vm down`): write its `vm.json`, serve its control
/// socket, and return when `down` is asked, a signal comes, or the VM dies.
/// The caller stops the VM. Used by the supervisor of `vm up` and by a run
/// kept after a failure (`--keep-on-failure`).
pub fn serve_until_down(vm: &mut Vm, run_dir: &Path) -> Result<Served> {
    let sock_path = run_dir.join(files::CONTROL);
    let _ = std::fs::remove_file(&sock_path);
    let listener = UnixListener::bind(&sock_path)
        .with_context(|| format!("binding {}", sock_path.display()))?;
    listener.set_nonblocking(true)?;
    vm.state().write(run_dir)?;
    let reason = loop {
        if crate::signals::interrupted() {
            break "signal".to_string();
        }
        if let Err(e) = vm.check_alive("running") {
            break format!("the VM died: {e}");
        }
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(reply_to) = handle_control(stream) {
                    return Ok(Served::Down(reply_to));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => break format!("control socket: {e}"),
        }
    };
    Ok(Served::Ended(reason))
}

/// Read one control command; return the stream to answer when it is `down`.
fn handle_control(stream: UnixStream) -> Option<UnixStream> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).ok()?;
    match line.trim() {
        "down" => Some(stream),
        "ping" => {
            let _ = writeln!(&stream, "pong");
            None
        }
        other => {
            let _ = writeln!(&stream, "unknown command {other:?}");
            None
        }
    }
}

/// Ask the VM served in `run_dir` to stop, and wait (up to two minutes)
/// for its answer.
pub fn ask_down(run_dir: &Path) -> Result<()> {
    let path = run_dir.join(files::CONTROL);
    let stream = UnixStream::connect(&path)
        .with_context(|| format!("the control socket {} is unreachable", path.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    writeln!(&stream, "down")?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).ok();
    Ok(())
}
