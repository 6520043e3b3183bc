//! Stderr of tools as they really print it (Python 3.11 tracebacks, Rust
//! 1.95 and pre-1.73 panics, the reference tool's records), for the tests.

/// The reference tool's backup: a clean run.
pub const CLEAN: &str = "\
2024-01-01 00:00:00,123 INFO btrfs_to_s3.backup event=snapshot_created subvolume=data path=/mnt/btrfs/.snapshots/data__20240101T000000Z__full kind=full
2024-01-01 00:00:00,500 INFO btrfs_to_s3.backup event=chunk_uploaded subvolume=data key=backups/subvol/data/full/chunk-20240101T000000Z-0.bin sha256=3f0a9c4e5d6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f
2024-01-01 00:00:01,000 INFO btrfs_to_s3.backup event=backup_metrics subvolume=data total_bytes=12000000 elapsed_seconds=1.500 throughput=8.00MB/s
2024-01-01 00:00:01,001 INFO btrfs_to_s3.backup event=backup_uploaded subvolume=data manifest_key=backups/subvol/data/full/manifest-20240101T000000Z.json chunk_count=2
";

/// The reference tool's failing restore of a corrupted chunk
/// (`chunk_integrity_failed` has no `error=`; `restore_failed` has).
pub const INTEGRITY_FAILED: &str = "\
2024-01-01 00:01:00,000 INFO btrfs_to_s3.restore event=restore_started subvolume=data manifest_key=backups/subvol/data/full/manifest-20240101T000000Z.json
2024-01-01 00:01:00,200 INFO btrfs_to_s3.restore event=chunk_downloaded key=backups/subvol/data/full/chunk-20240101T000000Z-0.bin sha256=3f0a9c4e5d6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f
2024-01-01 00:01:00,400 ERROR btrfs_to_s3.downloader event=chunk_integrity_failed key=backups/subvol/data/full/chunk-20240101T000000Z-1.bin expected_size=4194304 actual_size=4194304 expected_sha256=aa11 actual_sha256=bb22
2024-01-01 00:01:00,401 ERROR btrfs_to_s3.restore event=restore_failed subvolume=data error=integrity check failed for chunk backups/subvol/data/full/chunk-20240101T000000Z-1.bin: expected 4194304 bytes sha256 aa11, got 4194304 bytes sha256 bb22
";

/// A handled error: `traceback.print_exc()`, then the failure event (the
/// reference tool's shape), then nothing.
pub const HANDLED_THEN_FAILED: &str = "\
2024-01-01 00:00:00,123 INFO btrfs_to_s3.backup event=snapshot_created subvolume=data path=/mnt/btrfs/.snapshots/data__20240101T000000Z__full kind=full
Traceback (most recent call last):
  File \"/opt/vmharness/tool/btrfs_to_s3/backup.py\", line 76, in _run_all
    self.backup_one(name, state)
  File \"/opt/vmharness/tool/btrfs_to_s3/btrfs.py\", line 41, in send
    raise BtrfsError(f\"btrfs send failed: {err}\")
btrfs_to_s3.errors.BtrfsError: btrfs send failed: ERROR: send ioctl failed with -5: Input/output error
2024-01-01 00:00:02,000 ERROR btrfs_to_s3.backup event=backup_failed subvolume=data error=btrfs send failed: ERROR: send ioctl failed with -5: Input/output error
";

/// A handled traceback in the middle, the run goes on and succeeds.
pub const HANDLED_MID_LOG: &str = "\
2024-01-01 00:00:00,123 INFO tool event=upload_started key=a
Traceback (most recent call last):
  File \"/opt/tool/up.py\", line 10, in put
    client.put_object(**kw)
ConnectionResetError: [Errno 104] Connection reset by peer
2024-01-01 00:00:01,000 WARNING tool event=chunk_upload_retry attempt=1 error=[Errno 104] Connection reset by peer
2024-01-01 00:00:02,000 INFO tool event=backup_uploaded subvolume=data manifest_key=k chunk_count=1
";

/// An uncaught, chained exception with a two-line message (Python 3.11).
pub const CHAINED_CRASH: &str = "\
2024-01-01 00:00:00,123 INFO btrfs_to_s3.backup event=snapshot_created subvolume=data path=/p kind=full
2024-01-01 00:00:00,200 WARNING btrfs_to_s3.uploader event=chunk_upload_retry key=k attempt=1 error=SlowDown
Traceback (most recent call last):
  File \"/tmp/wtout-panic/t.py\", line 5, in outer
    try: inner()
         ^^^^^^^
  File \"/tmp/wtout-panic/t.py\", line 3, in inner
    def inner(): raise KeyError(\"chunk-3\")
                 ^^^^^^^^^^^^^^^^^^^^^^^^^
KeyError: 'chunk-3'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File \"/tmp/wtout-panic/t.py\", line 7, in <module>
    if kind == \"chain\": outer()
                        ^^^^^^^
  File \"/tmp/wtout-panic/t.py\", line 6, in outer
    except KeyError as e: raise RuntimeError(\"upload\\nfailed twice\") from e
                          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
RuntimeError: upload
failed twice

";

/// "During handling of the above exception, another exception occurred".
pub const DURING_HANDLING: &str = "\
Traceback (most recent call last):
  File \"/tmp/wtout-panic/t.py\", line 9, in <module>
    try: inner()
         ^^^^^^^
  File \"/tmp/wtout-panic/t.py\", line 3, in inner
    def inner(): raise KeyError(\"chunk-3\")
                 ^^^^^^^^^^^^^^^^^^^^^^^^^
KeyError: 'chunk-3'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File \"/tmp/wtout-panic/t.py\", line 10, in <module>
    except KeyError: None.x
                     ^^^^^^
AttributeError: 'NoneType' object has no attribute 'x'
";

/// botocore giving up after its retries, uncaught.
pub const BOTO_SLOWDOWN: &str = "\
2024-01-01 00:00:00,123 INFO btrfs_to_s3.backup event=snapshot_created subvolume=data path=/p kind=full
Traceback (most recent call last):
  File \"<frozen runpy>\", line 198, in _run_module_as_main
  File \"<frozen runpy>\", line 88, in _run_code
  File \"/opt/vmharness/tool/mytool/__main__.py\", line 4, in <module>
    main()
  File \"/opt/vmharness/tool/mytool/upload.py\", line 88, in upload_chunk
    s3.put_object(Bucket=bucket, Key=key, Body=body)
  File \"/usr/lib/python3/dist-packages/botocore/client.py\", line 983, in _make_api_call
    raise error_class(parsed_response, operation_name)
botocore.exceptions.ClientError: An error occurred (SlowDown) when calling the PutObject operation (reached max retries: 4): Please reduce your request rate.
";

/// An exception without a message.
pub const NO_MESSAGE: &str = "\
Traceback (most recent call last):
  File \"/tmp/wtout-panic/t.py\", line 17, in <module>
    g()
  File \"/tmp/wtout-panic/t.py\", line 16, in g
    def g(): raise StopIteration
             ^^^^^^^^^^^^^^^^^^^
StopIteration
";

/// `raise SystemExit("...")`: Python prints the message alone and exits 1.
pub const SYSTEM_EXIT: &str = "\
2024-01-01 00:00:00,123 INFO mytool event=starting version=1.0
fatal: cannot read /etc/mytool/config.toml: [Errno 2] No such file or directory
";

/// An exception group (Python 3.11).
pub const GROUP: &str = "\
  + Exception Group Traceback (most recent call last):
  |   File \"/tmp/wtout-panic/t.py\", line 13, in <module>
  |     f()
  |   File \"/tmp/wtout-panic/t.py\", line 12, in f
  |     def f(): raise ExceptionGroup(\"uploads failed\", [ValueError(\"part 1\"), TypeError(\"part 2\")])
  |              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  | ExceptionGroup: uploads failed (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | ValueError: part 1
    +---------------- 2 ----------------
    | TypeError: part 2
    +------------------------------------
";

/// An exception in `__del__` at exit: ignored by Python (exit 0).
pub const IGNORED: &str = "\
2024-01-01 00:00:02,000 INFO tool event=backup_uploaded subvolume=data manifest_key=k chunk_count=1
Exception ignored in: <function A.__del__ at 0x7f0222edd6c0>
Traceback (most recent call last):
  File \"/tmp/wtout-panic/t.py\", line 20, in __del__
    def __del__(self): raise ValueError(\"in del\")
                       ^^^^^^^^^^^^^^^^^^^^^^^^^^
ValueError: in del
";

/// `log.exception(...)`: the failure record, then its traceback.
pub const LOGGED_EXCEPTION: &str = "\
2024-01-01 00:00:01,000 INFO tool event=snapshot_created subvolume=data path=/p kind=full
2024-01-01 00:00:02,000 ERROR tool event=backup_failed subvolume=data error=disk full
Traceback (most recent call last):
  File \"/opt/tool/spool.py\", line 30, in write
    f.write(block)
OSError: [Errno 28] No space left on device
";

/// A SyntaxError (its innermost frame has no function).
pub const SYNTAX: &str = "\
Traceback (most recent call last):
  File \"/tmp/wtout-panic/t.py\", line 22, in <module>
    if kind == \"syntax\": exec(\"x = (1,\\n\")
                         ^^^^^^^^^^^^^^^^^
  File \"<string>\", line 1
    x = (1,
        ^
SyntaxError: '(' was never closed
";

/// Rust >= 1.89 (thread id), with RUST_BACKTRACE=1.
pub const PANIC_NEW: &str = "\
2024-01-01 00:00:00,123 INFO rtool event=snapshot_created subvolume=data path=/p kind=full

thread 'main' (21112) panicked at src/upload.rs:5:7:
called `Result::unwrap()` on an `Err` value: Custom { kind: NotFound, error: \"no such file\" }
stack backtrace:
   0: __rustc::rust_begin_unwind
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5
   1: core::panicking::panic_fmt
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14
   2: sha2::sha256::compress256
   3: rtool::main
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
";

/// Rust 1.73 to 1.88, two-line message.
pub const PANIC_173: &str = "\
thread 'tokio-runtime-worker' panicked at src/chunk.rs:88:9:
chunk 3 too short
expected 8388608 bytes
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
";

/// Rust < 1.73.
pub const PANIC_OLD: &str = "\
thread 'main' panicked at 'called `Option::unwrap()` on a `None` value', src/main.rs:2:5
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
";

/// A worker thread panicked, the program caught it and went on.
pub const PANIC_HANDLED: &str = "\
thread 'worker' (21111) panicked at src/p.rs:3:81:
two
lines 5
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
2024-01-01 00:00:01,000 WARNING rtool event=worker_failed error=worker panicked: two lines 5
2024-01-01 00:00:02,000 INFO rtool event=backup_uploaded subvolume=data manifest_key=k chunk_count=1
";

/// Exit 1 with a plain message and no record.
pub const PLAIN: &str = "\
usage error: --subvolume 'nope' is not in [subvolumes] paths (known: data, root, home)
";
