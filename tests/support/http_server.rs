//! A small HTTP/1.1 file server on 127.0.0.1 for tests of downloads: GET
//! only, `Range: bytes=N-` answered with 206 (unless told to ignore it),
//! and told to cut the connection after a number of body bytes. It records
//! every request. Stops when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What a path serves.
#[derive(Clone)]
pub enum Content {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl From<Vec<u8>> for Content {
    fn from(v: Vec<u8>) -> Self {
        Content::Bytes(v)
    }
}

impl From<PathBuf> for Content {
    fn from(p: PathBuf) -> Self {
        Content::File(p)
    }
}

/// How the server misbehaves (for the next requests).
#[derive(Clone, Copy, Debug, Default)]
pub struct Behaviour {
    /// Close the connection after this many body bytes.
    pub cut_after: Option<u64>,
    /// Answer 200 with the whole file even when a Range is asked for.
    pub ignore_range: bool,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    behaviour: Behaviour,
    requests: Vec<Request>,
}

pub struct Server {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(files: Vec<(String, Content)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        let files = Arc::new(files);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, files) = (s.clone(), files.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &files, &s);
                });
            }
        });
        Server {
            port,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set(&self, b: Behaviour) {
        self.shared.lock().unwrap().behaviour = b;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().unwrap().requests.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    conn: TcpStream,
    files: &[(String, Content)],
    shared: &Mutex<Shared>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let behaviour = shared.lock().unwrap().behaviour;
    let mut out = conn;
    let record = |status: u16| {
        shared.lock().unwrap().requests.push(Request {
            path: path.clone(),
            range: range.clone(),
            status,
        })
    };
    let Some((_, content)) = files.iter().find(|(p, _)| *p == path) else {
        record(404);
        out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return Ok(());
    };
    let len = match content {
        Content::Bytes(b) => b.len() as u64,
        Content::File(p) => std::fs::metadata(p)?.len(),
    };
    let from = range
        .as_deref()
        .filter(|_| !behaviour.ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<u64>().ok());
    let (status, head, start) = match from {
        Some(n) if n >= len => {
            record(416);
            let h = format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            out.write_all(h.as_bytes())?;
            return Ok(());
        }
        Some(n) => (
            206,
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {n}-{}/{len}\r\nContent-Length: {}\r\n",
                len - 1,
                len - n
            ),
            n,
        ),
        None => (200, format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n"), 0),
    };
    record(status);
    out.write_all(format!("{head}Accept-Ranges: bytes\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut body: Box<dyn Read> = match content {
        Content::Bytes(b) => Box::new(std::io::Cursor::new(b[start as usize..].to_vec())),
        Content::File(p) => {
            let mut f = std::fs::File::open(p)?;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start))?;
            Box::new(f)
        }
    };
    if let Some(cut) = behaviour.cut_after {
        body = Box::new(body.take(cut));
    }
    std::io::copy(&mut body, &mut out)?;
    out.flush()?;
    out.shutdown(Shutdown::Both)
}
