//! A small synchronous QMP client (JSON lines over a unix socket).

use super::qemu_args::NETDEV;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// QEMU closed the connection (or it broke): every later command fails.
    closed: bool,
}

/// How long an answer from QMP is awaited.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Qmp {
    /// Connect, retrying until the socket exists or `timeout` passes, and
    /// negotiate capabilities.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if start.elapsed() < timeout => {
                    tracing::trace!("qmp connect: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("connecting to QMP at {} for {:?}", path.display(), timeout)
                    })
                }
            }
        };
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            closed: false,
        };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    /// Whether the connection is gone (QEMU closed it, most likely by
    /// exiting): retrying a command is then pointless.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = match self.reader.read_line(&mut line) {
            Ok(n) => n,
            Err(e) => {
                // A read timeout leaves the connection usable; anything else
                // (reset, broken) does not.
                self.closed |= !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
                return Err(e).context("reading from QMP");
            }
        };
        if n == 0 {
            self.closed = true;
            bail!("QMP closed the connection (QEMU exited?)");
        }
        serde_json::from_str(&line).with_context(|| format!("QMP sent invalid JSON: {line}"))
    }

    /// `execute` with its answer awaited `timeout` at most (not the usual
    /// `READ_TIMEOUT`). A late answer would be taken for the next command's:
    /// after a failure the connection is not used again.
    pub fn execute_within(
        &mut self,
        command: &str,
        arguments: Value,
        timeout: Duration,
    ) -> Result<Value> {
        self.reader.get_ref().set_read_timeout(Some(timeout))?;
        let result = self.execute(command, arguments);
        if result.is_err() {
            self.closed = true;
        }
        let _ = self.reader.get_ref().set_read_timeout(Some(READ_TIMEOUT));
        result
    }

    /// Run one command and return its `return` value; events are skipped.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        if self.closed {
            bail!("QMP {command}: the connection to QEMU is closed");
        }
        let msg = if arguments.as_object().is_some_and(|o| o.is_empty()) {
            json!({ "execute": command })
        } else {
            json!({ "execute": command, "arguments": arguments })
        };
        let mut text = msg.to_string();
        text.push('\n');
        if let Err(e) = self.writer.write_all(text.as_bytes()) {
            self.closed = true;
            return Err(e).with_context(|| format!("sending QMP command {command}"));
        }
        loop {
            let reply = self.read_message()?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(anyhow!(
                    "QMP {command} failed: {}",
                    e.get("desc")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error")
                ));
            }
            tracing::debug!("qmp event: {reply}");
        }
    }

    /// Hot-plug a qcow2 file as a virtio disk with a stable serial.
    pub fn hotplug_disk(&mut self, node: &str, file: &Path, serial: &str) -> Result<()> {
        self.execute(
            "blockdev-add",
            json!({
                "driver": "qcow2",
                "node-name": node,
                "discard": "unmap",
                "file": { "driver": "file", "filename": file.to_string_lossy() },
            }),
        )?;
        self.execute(
            "device_add",
            json!({ "driver": "virtio-blk-pci", "id": format!("dev-{node}"), "drive": node, "serial": serial }),
        )?;
        Ok(())
    }

    /// Freeze the image under node `node` as it is now: QEMU drains the
    /// disk, creates the qcow2 `overlay` backed by that image (reopened
    /// read-only) and makes it, as node `overlay_node`, the image the device
    /// writes. The overlay belongs to the device: unplugging it frees the
    /// whole stack (`unplug_disk` with the hot-plugged node).
    pub fn snapshot_disk(&mut self, node: &str, overlay: &Path, overlay_node: &str) -> Result<()> {
        self.execute(
            "blockdev-snapshot-sync",
            snapshot_arguments(node, overlay, overlay_node),
        )
        .map(|_| ())
    }

    /// Unplug the disk `hotplug_disk` added and free its image file. The
    /// guest must release the device (ACPI eject): the node stays in use
    /// until it has, so `blockdev-del` is retried until `timeout`.
    pub fn unplug_disk(&mut self, node: &str, timeout: Duration) -> Result<()> {
        self.execute("device_del", json!({ "id": format!("dev-{node}") }))?;
        let start = Instant::now();
        loop {
            match self.execute("blockdev-del", json!({ "node-name": node })) {
                Ok(_) => return Ok(()),
                Err(e) if self.closed => return Err(e),
                Err(e) if start.elapsed() < timeout => {
                    tracing::trace!("blockdev-del {node}: {e:#}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("the guest did not release disk {node} within {timeout:?}")
                    })
                }
            }
        }
    }

    /// Whether this QEMU can write a saved state as a fixed-offset file
    /// (`mapped-ram`, QEMU 9.0+): faster to save and to load.
    pub fn has_mapped_ram(&mut self) -> Result<bool> {
        let caps = self.execute("query-migrate-capabilities", json!({}))?;
        Ok(caps.as_array().is_some_and(|a| {
            a.iter()
                .any(|c| c.get("capability").and_then(Value::as_str) == Some("mapped-ram"))
        }))
    }

    fn set_mapped_ram(&mut self, on: bool) -> Result<()> {
        if on {
            self.execute(
                "migrate-set-capabilities",
                json!({ "capabilities": [{ "capability": "mapped-ram", "state": true }] }),
            )?;
        }
        Ok(())
    }

    /// Pause the guest and write its whole state (RAM, devices) to `file`.
    /// The guest stays paused; QEMU should quit afterwards.
    pub fn save_state(&mut self, file: &Path, mapped_ram: bool, timeout: Duration) -> Result<()> {
        self.execute("stop", json!({}))?;
        self.set_mapped_ram(mapped_ram)?;
        // The default bandwidth cap (128 MiB/s) is for live networks, not files.
        self.execute(
            "migrate-set-parameters",
            json!({ "max-bandwidth": 100u64 << 30 }),
        )?;
        self.execute(
            "migrate",
            json!({ "uri": state_uri(file, mapped_ram, false) }),
        )
        .context("saving the VM state to a file")?;
        self.await_migration("saving the VM state", timeout)
    }

    /// Load a state `save_state` wrote into a QEMU started with
    /// `-incoming defer` and the same devices, then let the guest run.
    pub fn load_state(&mut self, file: &Path, mapped_ram: bool, timeout: Duration) -> Result<()> {
        self.set_mapped_ram(mapped_ram)?;
        self.execute(
            "migrate-incoming",
            json!({ "uri": state_uri(file, mapped_ram, true) }),
        )?;
        self.await_migration("loading the saved VM state", timeout)?;
        self.execute("cont", json!({}))?;
        Ok(())
    }

    fn await_migration(&mut self, what: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let st = self.execute("query-migrate", json!({}))?;
            match st.get("status").and_then(Value::as_str) {
                Some("completed") => return Ok(()),
                Some("failed") | Some("cancelled") => bail!(
                    "{what} failed: {}",
                    st.get("error-desc")
                        .and_then(Value::as_str)
                        .unwrap_or("QEMU gave no reason (see qemu.stderr)")
                ),
                other => {
                    if start.elapsed() > timeout {
                        bail!("{what}: not done after {timeout:?} (status {other:?})");
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    /// Plug or unplug the network cable of the netdev `net0` (the guest's
    /// NIC loses or regains its carrier at once).
    pub fn set_link(&mut self, up: bool) -> Result<()> {
        self.execute("set_link", json!({ "name": NETDEV, "up": up }))
            .map(|_| ())
    }

    /// Freeze the guest's CPUs (in-flight disk requests are drained first).
    pub fn stop(&mut self) -> Result<()> {
        self.execute("stop", json!({})).map(|_| ())
    }

    /// Stop QEMU at once (no guest shutdown).
    pub fn quit(&mut self) -> Result<()> {
        self.execute("quit", json!({})).map(|_| ())
    }
}

/// The migration URI of a saved-state file: `file:` with `mapped-ram`
/// (QEMU 9.0+), else a stream through `cat` (any QEMU version).
fn state_uri(file: &Path, mapped_ram: bool, incoming: bool) -> String {
    let path = file.to_string_lossy();
    match (mapped_ram, incoming) {
        (true, _) => format!("file:{path}"),
        (false, false) => format!("exec:cat > {}", crate::ssh::shell_quote(&path)),
        (false, true) => format!("exec:cat {}", crate::ssh::shell_quote(&path)),
    }
}

/// The arguments of `blockdev-snapshot-sync` (QEMU 2.x to 10.x): QEMU
/// writes the overlay with the absolute path of its backing image.
fn snapshot_arguments(node: &str, overlay: &Path, overlay_node: &str) -> Value {
    json!({
        "node-name": node,
        "snapshot-file": overlay.to_string_lossy(),
        "snapshot-node-name": overlay_node,
        "format": "qcow2",
        "mode": "absolute-paths",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_names_the_frozen_node_and_the_new_overlay() {
        let got = snapshot_arguments(
            "fixture",
            Path::new("/r/fixture-layer-1.qcow2"),
            "fixture-layer-1",
        );
        let want = json!({
            "node-name": "fixture",
            "snapshot-file": "/r/fixture-layer-1.qcow2",
            "snapshot-node-name": "fixture-layer-1",
            "format": "qcow2",
            "mode": "absolute-paths",
        });
        assert_eq!(got, want);
    }

    #[test]
    fn state_files_are_mapped_or_streamed() {
        let f = Path::new("/c/states/a b/memory.state");
        assert_eq!(state_uri(f, true, false), "file:/c/states/a b/memory.state");
        assert_eq!(state_uri(f, true, true), "file:/c/states/a b/memory.state");
        assert_eq!(
            state_uri(f, false, false),
            "exec:cat > '/c/states/a b/memory.state'"
        );
        assert_eq!(
            state_uri(f, false, true),
            "exec:cat '/c/states/a b/memory.state'"
        );
    }
}

#[cfg(test)]
mod connection_tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A QMP peer that greets, accepts the capabilities, answers the
    /// `replies` commands that follow (the first with success, the others
    /// with an error: a node still in use) and then exits.
    fn peer(path: &Path, replies: usize) -> std::thread::JoinHandle<()> {
        let listener = UnixListener::bind(path).expect("binding the test socket");
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accepting");
            let mut writer = stream.try_clone().expect("cloning");
            let mut reader = BufReader::new(stream);
            writeln!(writer, r#"{{"QMP": {{"version": {{}}}}}}"#).expect("greeting");
            let mut line = String::new();
            reader.read_line(&mut line).expect("capabilities");
            writeln!(writer, r#"{{"return": {{}}}}"#).expect("capabilities reply");
            for i in 0..replies {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let reply = if i == 0 {
                    r#"{"return": {}}"#
                } else {
                    r#"{"error": {"desc": "Node fixture is in use"}}"#
                };
                writeln!(writer, "{reply}").expect("reply");
            }
        })
    }

    #[test]
    fn an_unplug_stops_retrying_once_qemu_has_closed_the_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("qmp.sock");
        // device_del and two refused blockdev-del, then QEMU is gone.
        let served = peer(&path, 3);
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).expect("connecting");
        let start = Instant::now();
        let err = qmp
            .unplug_disk("fixture", Duration::from_secs(60))
            .expect_err("the peer is gone");
        served.join().expect("peer thread");
        assert!(qmp.is_closed(), "{err:#}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "retried a dead connection for {:?}: {err:#}",
            start.elapsed()
        );
    }

    #[test]
    fn a_refused_command_leaves_the_connection_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("qmp.sock");
        let served = peer(&path, 2);
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).expect("connecting");
        qmp.execute("device_del", json!({ "id": "dev-fixture" }))
            .expect("accepted");
        let err = qmp
            .execute("blockdev-del", json!({ "node-name": "fixture" }))
            .expect_err("refused");
        assert!(format!("{err:#}").contains("in use"), "{err:#}");
        assert!(!qmp.is_closed());
        served.join().expect("peer thread");
    }
}
