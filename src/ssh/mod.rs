//! SSH to the guest with ssh2: verified host key, commands with timeouts and
//! logs, tree upload as one tar stream, and a record of every command.

mod log;
pub mod openssh;
pub mod tree;

pub use log::{CommandLog, CommandRecord};

use crate::signals::Interrupted;
use anyhow::{anyhow, bail, Context, Result};
use ssh2::Session;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where and how to log in.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub addr: SocketAddr,
    pub user: String,
    pub key_path: PathBuf,
    /// The host key blob the guest must present.
    pub host_key: Vec<u8>,
}

/// Whether the port answers with an SSH banner (QEMU's forward accepts TCP
/// before the guest is up, so a connect alone proves nothing).
pub fn banner_ready(addr: SocketAddr, timeout: Duration) -> std::result::Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 4 {
        match s.read(&mut buf) {
            Ok(0) => return Err("connection closed before the SSH banner".into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("no SSH banner yet ({e})")),
        }
    }
    if got.starts_with(b"SSH-") {
        Ok(())
    } else {
        Err(format!(
            "not an SSH banner: {:?}",
            String::from_utf8_lossy(&got)
        ))
    }
}

/// The outcome of one remote command.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: i32,
    /// The signal that killed it (ssh reports status 0 then: check this first).
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
    pub timed_out: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.signal.is_none() && self.status == 0 && !self.timed_out
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// Exit code as a shell reports it (128+N for a signal).
    pub fn shell_code(&self) -> i32 {
        match &self.signal {
            Some(sig) => 128 + signal_number(sig).unwrap_or(0),
            None => self.status,
        }
    }
}

pub fn signal_number(name: &str) -> Option<i32> {
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ABRT" => 6,
        "KILL" => 9,
        "SEGV" => 11,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => return None,
    })
}

/// Options of one command.
pub struct Exec<'a> {
    pub command: &'a str,
    /// A short name for the log files.
    pub label: &'a str,
    pub timeout: Duration,
    /// Copy output live to these writers (e.g. the terminal) as well as the logs.
    pub echo: bool,
}

/// An authenticated session to the guest.
pub struct Ssh {
    target: SshTarget,
    session: Session,
    log: Option<CommandLog>,
}

/// Quote one word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A shell command line running `words` with `env` set (`env K=V ... words`),
/// every word quoted.
pub fn env_command<S: AsRef<str>>(env: &[(String, String)], words: &[S]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !env.is_empty() {
        parts.push("env".into());
        parts.extend(env.iter().map(|(k, v)| shell_quote(&format!("{k}={v}"))));
    }
    parts.extend(words.iter().map(|w| shell_quote(w.as_ref())));
    parts.join(" ")
}

impl Ssh {
    /// Handshake, verify the host key, authenticate with the run's key.
    pub fn connect(target: &SshTarget, timeout: Duration, log: Option<CommandLog>) -> Result<Ssh> {
        let tcp = TcpStream::connect_timeout(&target.addr, timeout)
            .with_context(|| format!("connecting to {}", target.addr))?;
        tcp.set_nodelay(true).ok();
        let mut session = Session::new().context("creating an SSH session")?;
        session.set_tcp_stream(tcp);
        session.set_timeout(timeout.as_millis().min(u32::MAX as u128) as u32);
        session.handshake().context("SSH handshake")?;
        let (key, _) = session
            .host_key()
            .ok_or_else(|| anyhow!("the guest presented no host key"))?;
        if key != target.host_key.as_slice() {
            bail!(
                "the guest's SSH host key is not the one this run gave it: refusing to log in \
                 (another machine is answering on {}?)",
                target.addr
            );
        }
        session
            .userauth_pubkey_file(&target.user, None, &target.key_path, None)
            .with_context(|| format!("SSH public-key login as {}", target.user))?;
        if !session.authenticated() {
            bail!("SSH login as {} was not accepted", target.user);
        }
        session.set_timeout(0);
        session.set_keepalive(true, 10);
        Ok(Ssh {
            target: target.clone(),
            session,
            log,
        })
    }

    /// Close the connection (the guest's sshd process for it exits).
    pub fn disconnect(&mut self) {
        let _ = self.session.disconnect(None, "done", None);
    }

    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Log in with `key_path` from now on (reconnects, the kill session);
    /// this session stays as it was authenticated.
    pub fn set_key_path(&mut self, key_path: PathBuf) {
        self.target.key_path = key_path;
    }

    /// Run a shell command; output goes to the logs (and the terminal with
    /// `echo`). On timeout the remote process group is killed. Ctrl-C or
    /// SIGTERM ends the wait at once with [`Interrupted`] (the command is
    /// left to the teardown); after one, no command starts.
    pub fn exec(&mut self, opts: &Exec) -> Result<Output> {
        self.exec_with(opts, true, true)
    }

    /// `exec` that a signal does not cut short: for the teardown's last
    /// words to the guest (a `sync` before a kept disk is left).
    pub fn exec_in_teardown(&mut self, opts: &Exec) -> Result<Output> {
        self.exec_with(opts, true, false)
    }

    fn exec_with(
        &mut self,
        opts: &Exec,
        kill_on_timeout: bool,
        cancellable: bool,
    ) -> Result<Output> {
        if cancellable && crate::signals::interrupted() {
            return Err(Interrupted::now())
                .with_context(|| format!("not starting guest command {}", opts.label));
        }
        let seq = self.log.as_ref().map(|l| l.next_seq()).unwrap_or(0);
        let pid_file = format!("/tmp/.vmharness-cmd-{}-{seq}.pid", std::process::id());
        // The remote shell is its session's leader: its pid is the process group to kill.
        let wrapped = format!(
            "echo $$ > {pid_file}; trap 'rm -f {pid_file}' EXIT; {}",
            opts.command
        );
        let start = Instant::now();
        let mut channel = self
            .session
            .channel_session()
            .context("opening an SSH channel")?;
        channel
            .exec(&wrapped)
            .with_context(|| format!("starting `{}`", opts.command))?;
        let (mut out_log, mut err_log) = match &self.log {
            Some(l) => {
                let (o, e) = l.open_outputs(seq, opts.label)?;
                (Some(o), Some(e))
            }
            None => (None, None),
        };
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        self.session.set_blocking(false);
        let mut timed_out = false;
        let mut interrupted = false;
        let mut buf = vec![0u8; 64 * 1024];
        let read_result: Result<()> = (|| loop {
            let mut progressed = false;
            for (stream_id, sink, file) in [
                (0, &mut stdout, &mut out_log),
                (1, &mut stderr, &mut err_log),
            ] {
                match channel.stream(stream_id).read(&mut buf) {
                    Ok(0) => {}
                    Ok(n) => {
                        progressed = true;
                        sink.extend_from_slice(&buf[..n]);
                        if let Some(f) = file.as_mut() {
                            f.write_all(&buf[..n])?;
                        }
                        if opts.echo {
                            if stream_id == 0 {
                                std::io::stdout().write_all(&buf[..n])?;
                                std::io::stdout().flush()?;
                            } else {
                                std::io::stderr().write_all(&buf[..n])?;
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e).context("reading command output"),
                }
            }
            if channel.eof() {
                return Ok(());
            }
            if cancellable && crate::signals::interrupted() {
                interrupted = true;
                return Ok(());
            }
            if start.elapsed() > opts.timeout {
                timed_out = true;
                return Ok(());
            }
            if !progressed {
                std::thread::sleep(Duration::from_millis(2));
            }
        })();
        self.session.set_blocking(true);
        read_result?;
        if interrupted {
            // Freeing a channel the guest has not closed waits for its close:
            // not for long.
            self.session.set_timeout(300);
            drop(channel);
            self.session.set_timeout(0);
            // The label, not the command line: it may carry credentials.
            return Err(Interrupted::now()).with_context(|| {
                format!(
                    "guest command {} after {:.1}s",
                    opts.label,
                    start.elapsed().as_secs_f64()
                )
            });
        }
        if timed_out && kill_on_timeout {
            self.kill_group(&pid_file);
        }
        self.session.set_timeout(10_000);
        let _ = channel.wait_close();
        self.session.set_timeout(0);
        let signal = channel.exit_signal().ok().and_then(|s| s.exit_signal);
        let status = channel.exit_status().unwrap_or(-1);
        let output = Output {
            status,
            signal,
            stdout,
            stderr,
            duration: start.elapsed(),
            timed_out,
        };
        if let Some(l) = &self.log {
            l.record(seq, opts.label, opts.command, &output)?;
        }
        Ok(output)
    }

    /// Run a command and fail unless it succeeds.
    pub fn run(&mut self, label: &str, command: &str, timeout: Duration) -> Result<Output> {
        let out = self.exec(&Exec {
            command,
            label,
            timeout,
            echo: false,
        })?;
        if !out.success() {
            bail!(
                "guest command `{command}` failed (status {}, signal {:?}{}): {}",
                out.status,
                out.signal,
                if out.timed_out { ", timed out" } else { "" },
                crate::programs::tail(&out.stderr_text(), 15)
            );
        }
        Ok(out)
    }

    /// Whether the guest still answers: a second login (a blocked channel
    /// may hold this session) runs `true` within `timeout`.
    pub fn answers(&self, timeout: Duration) -> Result<()> {
        let mut other = Ssh::connect(&self.target, timeout, None)?;
        let out = other.exec_with(
            &Exec {
                command: "true",
                label: "probe",
                timeout,
                echo: false,
            },
            false,
            false,
        )?;
        if !out.success() {
            bail!(
                "`true` did not succeed (status {}{})",
                out.status,
                if out.timed_out { ", timed out" } else { "" }
            );
        }
        Ok(())
    }

    /// Kill a timed-out command's process group over a second session (a
    /// blocked channel holds this one). The kill itself is not killed when
    /// it times out: a guest that does not answer is not asked again.
    fn kill_group(&self, pid_file: &str) {
        let cmd = format!(
            "p=$(cat {pid_file} 2>/dev/null) && [ -n \"$p\" ] && {{ kill -TERM -- -$p; sleep 2; kill -KILL -- -$p; }} 2>/dev/null; true"
        );
        match Ssh::connect(&self.target, Duration::from_secs(20), None) {
            Ok(mut other) => {
                let _ = other.exec_with(
                    &Exec {
                        command: &cmd,
                        label: "kill",
                        timeout: Duration::from_secs(15),
                        echo: false,
                    },
                    false,
                    true,
                );
            }
            Err(e) => tracing::warn!("could not kill a timed-out guest command: {e:#}"),
        }
    }

    /// Write one file in the guest (parents created) with `mode`.
    pub fn write_file(&mut self, remote: &str, content: &[u8], mode: u32) -> Result<()> {
        let path = Path::new(remote);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            bail!("write_file: {remote} is not a file path");
        };
        let q = shell_quote(&dir.to_string_lossy());
        let cmd = format!("mkdir -p {q} && tar -x --no-same-owner -C {q} -f -");
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        self.send_tar(&cmd, Duration::from_secs(120), |b| {
            b.append_data(&mut header, name, content)
        })
        .with_context(|| format!("writing {remote} in the guest"))
    }

    /// Run `cmd` with a tar stream built by `fill` on its stdin.
    fn send_tar(
        &mut self,
        cmd: &str,
        timeout: Duration,
        fill: impl FnOnce(&mut tar::Builder<&mut ssh2::Channel>) -> std::io::Result<()>,
    ) -> Result<()> {
        let start = Instant::now();
        let mut channel = self
            .session
            .channel_session()
            .context("opening an SSH channel")?;
        self.session
            .set_timeout(timeout.as_millis().min(u32::MAX as u128) as u32);
        channel
            .exec(cmd)
            .with_context(|| format!("starting `{cmd}`"))?;
        {
            let mut builder = tar::Builder::new(&mut channel);
            builder.follow_symlinks(false);
            fill(&mut builder).context("sending the tar stream")?;
            builder.finish().context("finishing the tar stream")?;
        }
        channel.send_eof()?;
        let mut err = String::new();
        channel.stderr().read_to_string(&mut err).ok();
        channel.wait_close()?;
        self.session.set_timeout(0);
        let status = channel.exit_status()?;
        if let Some(l) = &self.log {
            let seq = l.next_seq();
            let out = Output {
                status,
                signal: None,
                stdout: vec![],
                stderr: err.clone().into_bytes(),
                duration: start.elapsed(),
                timed_out: false,
            };
            l.record(seq, "upload", cmd, &out)?;
        }
        if status != 0 {
            bail!("`{cmd}` failed in the guest: {err}");
        }
        Ok(())
    }

    /// Compile the Python sources under `dir` to bytecode once, so that each
    /// later `python3 -m` skips the compile (about 0.25 s a call under TCG
    /// for a tree of a few thousand lines; tool commands run with
    /// PYTHONDONTWRITEBYTECODE and would otherwise compile on every call).
    /// Best effort: a guest without python3 or a tree that does not compile
    /// is left as it is (the tool's own run reports its errors).
    pub fn compile_python(&mut self, dir: &str) -> Result<()> {
        self.run(
            "compile-python",
            &compile_python_cmd(dir),
            Duration::from_secs(300),
        )
        .map(|_| ())
    }

    /// Copy a local directory tree to `remote` in one tar stream.
    pub fn upload_dir(&mut self, local: &Path, remote: &str, timeout: Duration) -> Result<()> {
        self.upload_dir_skipping(local, remote, timeout, &[])
    }

    /// [`Ssh::upload_dir`] without the directories in `skip` (and never
    /// what [`tree::SKIPPED_NAMES`] names).
    pub fn upload_dir_skipping(
        &mut self,
        local: &Path,
        remote: &str,
        timeout: Duration,
        skip: &[std::path::PathBuf],
    ) -> Result<()> {
        let q = shell_quote(remote);
        let cmd = format!("mkdir -p {q} && tar -x --no-same-owner -C {q} -f -");
        let entries = tree::entries(local, skip)
            .with_context(|| format!("listing {} to copy it to the guest", local.display()))?;
        self.send_tar(&cmd, timeout, |b| {
            for (path, rel) in &entries {
                b.append_path_with_name(path, rel)?;
            }
            Ok(())
        })
        .with_context(|| format!("copying {} to {remote} in the guest", local.display()))
    }
}

/// The command behind [`Ssh::compile_python`]: it always succeeds.
pub fn compile_python_cmd(dir: &str) -> String {
    format!(
        "if command -v python3 >/dev/null 2>&1; then python3 -m compileall -q {} >/dev/null 2>&1; fi; true",
        shell_quote(dir)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiling_python_never_fails_the_install() {
        let c = compile_python_cmd("/opt/my tool");
        assert!(c.contains("python3 -m compileall -q '/opt/my tool'"), "{c}");
        assert!(c.starts_with("if command -v python3"), "{c}");
        assert!(c.ends_with("; true"), "{c}");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc/d-e.f"), "abc/d-e.f");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn signal_first() {
        let o = Output {
            status: 0,
            signal: Some("KILL".into()),
            stdout: vec![],
            stderr: vec![],
            duration: Duration::ZERO,
            timed_out: false,
        };
        assert!(!o.success());
        assert_eq!(o.shell_code(), 137);
    }

    #[test]
    fn banner_check_rejects_silent_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (_s, _) = l.accept().unwrap();
            std::thread::sleep(Duration::from_millis(500));
        });
        assert!(banner_ready(addr, Duration::from_millis(100)).is_err());
        t.join().unwrap();
    }
}
