//! The relay QEMU runs per guest connection carries bytes both ways and ends
//! when the host side closes.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

#[test]
fn relay_carries_a_request_and_its_answer() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut req = Vec::new();
        s.read_to_end(&mut req).unwrap();
        let reply: Vec<u8> = req.iter().rev().copied().collect();
        s.write_all(&reply).unwrap();
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmharness"))
        .args(["__relay", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut stdin = child.stdin.take().unwrap();
    let p2 = payload.clone();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&p2).unwrap();
    });
    let mut got = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    server.join().unwrap();
    assert!(child.wait().unwrap().success());
    let want: Vec<u8> = payload.iter().rev().copied().collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want);
}

#[test]
fn relay_to_a_closed_port_fails_with_the_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_vmharness"))
        .args(["__relay", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("127.0.0.1:{port}")));
}
