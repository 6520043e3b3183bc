use super::super::fixtures::*;
use super::*;

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn failure_event_wins_over_a_handled_traceback() {
    assert_eq!(
        cause(HANDLED_THEN_FAILED).unwrap(),
        "event=backup_failed error=btrfs send failed: ERROR: send ioctl failed with -5: Input/output error"
    );
    assert_eq!(
        cause(INTEGRITY_FAILED).unwrap(),
        "event=restore_failed error=integrity check failed for chunk \
         backups/subvol/data/full/chunk-20240101T000000Z-1.bin: expected 4194304 bytes sha256 aa11, \
         got 4194304 bytes sha256 bb22"
    );
}

#[test]
fn failed_events_first_then_error_level_then_the_last() {
    let log = "\
2024-01-01 00:00:00,000 ERROR t event=backup_failed error=first reason
2024-01-01 00:00:00,001 ERROR t event=cleanup_error error=later, not a _failed event
2024-01-01 00:00:00,002 WARNING t event=chunk_upload_retry attempt=2 error=SlowDown
2024-01-01 00:00:00,003 INFO t event=done status=1
";
    assert_eq!(
        cause(log).unwrap(),
        "event=backup_failed error=first reason"
    );
    let log = "\
2024-01-01 00:00:00,000 ERROR t event=backup_error error=the real one
2024-01-01 00:00:00,002 WARNING t event=chunk_upload_retry attempt=2 error=SlowDown
";
    assert_eq!(cause(log).unwrap(), "event=backup_error error=the real one");
    let log = "\
2024-01-01 00:00:00,000 WARNING t event=multipart_abort_failed error=one
2024-01-01 00:00:00,001 ERROR t event=backup_failed error=two
2024-01-01 00:00:00,002 WARNING t event=snapshot_delete_failed error=three
";
    assert_eq!(cause(log).unwrap(), "event=backup_failed error=two");
}

#[test]
fn the_crash_at_the_end_wins_over_earlier_events() {
    assert_eq!(
        cause(CHAINED_CRASH).unwrap(),
        "RuntimeError: upload; failed twice (at /tmp/wtout-panic/t.py:6 in outer)"
    );
    assert_eq!(
        cause(DURING_HANDLING).unwrap(),
        "AttributeError: 'NoneType' object has no attribute 'x' (at /tmp/wtout-panic/t.py:10 in <module>)"
    );
    assert_eq!(
        cause(BOTO_SLOWDOWN).unwrap(),
        "botocore.exceptions.ClientError: An error occurred (SlowDown) when calling the PutObject \
         operation (reached max retries: 4): Please reduce your request rate. \
         (at /usr/lib/python3/dist-packages/botocore/client.py:983 in _make_api_call)"
    );
}

#[test]
fn traceback_shapes() {
    assert_eq!(
        cause(NO_MESSAGE).unwrap(),
        "StopIteration (at /tmp/wtout-panic/t.py:16 in g)"
    );
    assert_eq!(
        cause(SYNTAX).unwrap(),
        "SyntaxError: '(' was never closed (at <string>:1)"
    );
    assert_eq!(
        cause(GROUP).unwrap(),
        "ExceptionGroup: uploads failed (2 sub-exceptions) (at /tmp/wtout-panic/t.py:12 in f); \
         first: ValueError: part 1"
    );
    // Cut off before its exception line (the tool was killed mid-print).
    let cut = "Traceback (most recent call last):\n  File \"/t.py\", line 3, in f\n    g()\n";
    assert_eq!(
        cause(cut).unwrap(),
        "a Python traceback cut off before its exception line (at /t.py:3 in f)"
    );
}

#[test]
fn a_handled_traceback_without_a_failure_event() {
    let log = HANDLED_MID_LOG.replace("error=[Errno 104] Connection reset by peer", "reason=reset");
    assert_eq!(
        cause(&log).unwrap(),
        "ConnectionResetError: [Errno 104] Connection reset by peer (at /opt/tool/up.py:10 in put)"
    );
    // An ignored exception at exit is not the cause when a failure was logged.
    let log = format!(
        "2024-01-01 00:00:00,000 ERROR t event=backup_failed error=boom\n{}",
        IGNORED
    );
    assert_eq!(cause(&log).unwrap(), "event=backup_failed error=boom");
}

#[test]
fn panics() {
    assert_eq!(
        cause(PANIC_NEW).unwrap(),
        "called `Result::unwrap()` on an `Err` value: Custom { kind: NotFound, error: \"no such file\" } \
         (thread 'main' panicked at src/upload.rs:5:7)"
    );
    assert_eq!(
        cause(PANIC_173).unwrap(),
        "chunk 3 too short; expected 8388608 bytes (thread 'tokio-runtime-worker' panicked at src/chunk.rs:88:9)"
    );
    assert_eq!(
        cause(PANIC_OLD).unwrap(),
        "called `Option::unwrap()` on a `None` value (thread 'main' panicked at src/main.rs:2:5)"
    );
    let old_multi = "thread 'main' panicked at 'first\nsecond', src/a.rs:1:2\nnote: run with `RUST_BACKTRACE=1`\n";
    assert_eq!(
        cause(old_multi).unwrap(),
        "first; second (thread 'main' panicked at src/a.rs:1:2)"
    );
    // Handled: the failure event is the cause.
    assert_eq!(
        cause(PANIC_HANDLED).unwrap(),
        "event=worker_failed error=worker panicked: two lines 5"
    );
}

#[test]
fn any_line_in_the_record_format_is_the_program_going_on() {
    // Records without event= (a library's), or with a space in a value.
    let tail = "\n2024-01-01 00:00:01,000 INFO botocore.credentials Found credentials in environment variables.\n";
    let t = format!("{NO_MESSAGE}{tail}");
    let l = lines(&t);
    assert!(!last_traceback(&l).unwrap().ends_stderr(&l));
    assert_eq!(
        cause(&t).unwrap(),
        "StopIteration (at /tmp/wtout-panic/t.py:16 in g)",
        "not the INFO line"
    );
    let t = format!("{NO_MESSAGE}2024-01-01 00:00:01,000 WARNING t event=retry reason=a b\n");
    let l = lines(&t);
    assert!(!last_traceback(&l).unwrap().ends_stderr(&l));
    assert_eq!(
        log_level("2024-01-01 00:00:01,000 WARNING x y"),
        Some("WARNING")
    );
    assert_eq!(log_level("2024-01-01 00:00:01 WARNING x y"), None);
    assert_eq!(log_level("ERROR: crc32 mismatch in command"), None);
    let plain = "2024-01-01 00:00:01,000 ERROR t Unhandled thing happened\n2024-01-01 00:00:02,000 INFO t bye\n";
    assert_eq!(cause(plain).unwrap(), "Unhandled thing happened");
}

#[test]
fn last_word_otherwise() {
    assert_eq!(
        cause(SYSTEM_EXIT).unwrap(),
        "fatal: cannot read /etc/mytool/config.toml: [Errno 2] No such file or directory"
    );
    assert_eq!(
        cause(PLAIN).unwrap(),
        "usage error: --subvolume 'nope' is not in [subvolumes] paths (known: data, root, home)"
    );
    let warn = "2024-01-01 00:00:00,000 WARNING t event=state_unreadable path=/x\n2024-01-01 00:00:01,000 INFO t event=done\n\n";
    assert_eq!(cause(warn).unwrap(), "event=state_unreadable path=/x");
    assert_eq!(cause(""), None);
    assert_eq!(cause("\n  \n"), None);
    assert_eq!(cause(CLEAN), None);
}

#[test]
fn capped_at_one_line() {
    let long = format!(
        "2024-01-01 00:00:00,000 ERROR t event=backup_failed error={}\n",
        "x".repeat(1000)
    );
    let c = cause(&long).unwrap();
    assert_eq!(c.chars().count(), MAX_CAUSE_CHARS);
    assert!(c.starts_with("event=backup_failed error=xxx") && c.ends_with('…'));
    // A long exception message keeps its location.
    let tb = format!(
        "Traceback (most recent call last):\n  File \"/t.py\", line 3, in f\nValueError: {}\n",
        "y".repeat(1000)
    );
    let c = cause(&tb).unwrap();
    assert!(c.chars().count() <= MAX_CAUSE_CHARS, "{c}");
    assert!(c.ends_with("… (at /t.py:3 in f)"), "{c}");
    assert!(!c.contains('\n'));
}

#[test]
fn traceback_reader() {
    let l = lines(CHAINED_CRASH);
    let t = last_traceback(&l).unwrap();
    assert_eq!(l[t.chain_start], "Traceback (most recent call last):");
    assert_eq!(t.chain_start, 2);
    assert_eq!(t.exception_type(), Some("RuntimeError"));
    assert!(t.ends_stderr(&l) && !t.ignored(&l) && !t.logged(&l));
    let l = lines(BOTO_SLOWDOWN);
    let t = last_traceback(&l).unwrap();
    assert_eq!(t.exception_type(), Some("botocore.exceptions.ClientError"));
    let l = lines(HANDLED_THEN_FAILED);
    assert!(!last_traceback(&l).unwrap().ends_stderr(&l));
    let l = lines(IGNORED);
    assert!(last_traceback(&l).unwrap().ignored(&l));
    let l = lines(LOGGED_EXCEPTION);
    let t = last_traceback(&l).unwrap();
    assert!(t.ends_stderr(&l) && t.logged(&l));
    assert_eq!(
        frame("  File \"/a b/c.py\", line 12, in <lambda>"),
        Some(Frame {
            file: "/a b/c.py".into(),
            line: "12".into(),
            func: Some("<lambda>".into())
        })
    );
    assert_eq!(frame("  File \"x\", line twelve, in f"), None);
}

#[test]
fn panic_reader() {
    assert_eq!(
        panic_header("thread 'main' (1) panicked at a.rs:1:1:"),
        Some(("main", "a.rs:1:1:"))
    );
    assert_eq!(
        panic_header("thread '<unnamed>' panicked at 'x', a.rs:1:1"),
        Some(("<unnamed>", "'x', a.rs:1:1"))
    );
    assert_eq!(panic_header("the thread 'main' panicked at"), None);
    for (text, at_end) in [
        (PANIC_NEW, true),
        (PANIC_173, true),
        (PANIC_OLD, true),
        (PANIC_HANDLED, false),
    ] {
        let l = lines(text);
        assert_eq!(last_panic(&l).unwrap().ends_stderr(&l), at_end, "{text}");
    }
    // Output that goes on after the backtrace: handled.
    let l =
        lines("thread 'w' panicked at a.rs:1:1:\nboom\nnote: run with `RUST_BACKTRACE=1`\nafter\n");
    assert!(!last_panic(&l).unwrap().ends_stderr(&l));
}
