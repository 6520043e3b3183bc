//! A small synchronous QMP client (JSON lines over a unix socket).

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

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
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .context("reading from QMP")?;
        if n == 0 {
            bail!("QMP closed the connection (QEMU exited?)");
        }
        serde_json::from_str(&line).with_context(|| format!("QMP sent invalid JSON: {line}"))
    }

    /// Run one command and return its `return` value; events are skipped.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let msg = if arguments.as_object().is_some_and(|o| o.is_empty()) {
            json!({ "execute": command })
        } else {
            json!({ "execute": command, "arguments": arguments })
        };
        let mut text = msg.to_string();
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .with_context(|| format!("sending QMP command {command}"))?;
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

    /// Unplug the disk `hotplug_disk` added and free its image file. The
    /// guest must release the device (ACPI eject): the node stays in use
    /// until it has, so `blockdev-del` is retried until `timeout`.
    pub fn unplug_disk(&mut self, node: &str, timeout: Duration) -> Result<()> {
        self.execute("device_del", json!({ "id": format!("dev-{node}") }))?;
        let start = Instant::now();
        loop {
            match self.execute("blockdev-del", json!({ "node-name": node })) {
                Ok(_) => return Ok(()),
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

    /// Stop QEMU at once (no guest shutdown).
    pub fn quit(&mut self) -> Result<()> {
        self.execute("quit", json!({})).map(|_| ())
    }
}
