"""Quirks: legal variations of the contract (QUIRKS.md), each proving its path ran."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import types
import unittest
from unittest import mock

from btrfs_to_s3 import quirks, retry, s3client
from btrfs_to_s3.errors import CredentialsMissing, LockHeld, UsageError
from btrfs_to_s3.lockfile import Lock
from btrfs_to_s3.retry import FullJitterRetrier
from btrfs_to_s3.store import Store
from tests.fakes import FakeBtrfs, FakeClientError, LogCapture, NoCredentialsError, config_dict, to_toml
from tests.harness import MIB, World, payload

TOOL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(TOOL_DIR, "btrfs_to_s3")
CONFIG_DIR = os.path.join(os.path.dirname(TOOL_DIR), "config")
P = "pfx/subvol/data/"
HEADER = ["quirk", "changes", "scenarios", "profile", "proof"]
SCENARIOS = set("full incremental restore interrupt cli-flags lock-contention large verify ordering "
                "no-credentials rapid-runs missing-parent corruption s3-errors network-cut power-loss "
                "archive-restore".split())
LINE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
                     r"[\w.]+ event=\w+( \S+=\S*)*( error=.*)?$")


def quirk_paths(logs):
    return set(re.findall(r"event=quirk_path (?:run=\w+ )?quirk=([a-z-]+) where=([a-z-]+)", logs.text))


def quirk_table():
    """QUIRKS.md's main table as dicts (cells with the backticks kept)."""
    with open(os.path.join(TOOL_DIR, "QUIRKS.md")) as handle:
        lines = [line.strip() for line in handle]
    start = next(i for i, line in enumerate(lines)
                 if [c.strip() for c in line.strip("|").split("|")] == HEADER)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append(dict(zip(HEADER, cells)))
    return rows


class CatalogueTest(unittest.TestCase):
    def test_parse_all_and_unknown(self):
        self.assertEqual(quirks.parse(""), frozenset())
        self.assertEqual(quirks.parse(" log-levels , extra-fields,,"), {"log-levels", "extra-fields"})
        self.assertEqual(quirks.parse("all"), set(quirks.CATALOGUE))
        self.assertEqual(quirks.parse("log-levels,all"), set(quirks.CATALOGUE))
        with self.assertRaisesRegex(UsageError, "unknown quirk name.*bogus"):
            quirks.parse("log-levels,bogus")
        with self.assertRaises(KeyError):
            quirks.enabled("not-a-quirk")

    def test_default_is_off_and_env_loads(self):
        quirks.load_from_env({})
        self.assertFalse(any(quirks.enabled(name) for name in quirks.CATALOGUE))
        quirks.load_from_env({quirks.ENV_VAR: "log-levels"})
        try:
            self.assertTrue(quirks.enabled("log-levels"))
            with quirks.activated("extra-fields"):
                self.assertFalse(quirks.enabled("log-levels"))
            self.assertTrue(quirks.enabled("log-levels"))
        finally:
            quirks.load_from_env({})

    def test_quirk_path_is_logged_once_per_tag(self):
        with quirks.activated("extra-fields"), LogCapture() as logs:
            for _ in range(3):
                quirks.path("extra-fields", "manifest")
                self.assertTrue(quirks.on("extra-fields", "pointer"))
            self.assertFalse(quirks.on("log-levels", "levels"))
        lines = logs.events("quirk_path")
        self.assertEqual([line.split(" where=")[1].split()[0] for line in lines], ["event", "manifest", "pointer"])
        self.assertRegex(lines[1], r" INFO btrfs_to_s3\.quirks event=quirk_path run=\w+ "
                                   r"quirk=extra-fields where=manifest pid=\d+$")
        with self.assertRaises(KeyError):
            quirks.path("extra-fields", "nowhere")

    def test_quirks_md_table(self):
        rows = quirk_table()
        self.assertEqual([row["quirk"].strip("`") for row in rows], list(quirks.CATALOGUE))
        for row in rows:
            name = row["quirk"].strip("`")
            with self.subTest(name):
                scenarios = re.fullmatch(r"`([a-z0-9 -]+)`", row["scenarios"]).group(1).split(" ")
                self.assertTrue(set(scenarios) <= SCENARIOS, scenarios)
                profile = re.fullmatch(r"`([\w.-]+\.toml)`", row["profile"]).group(1)
                self.assertTrue(os.path.exists(os.path.join(CONFIG_DIR, profile)), profile)
                proof = [re.fullmatch(r"`([a-z-]+)`", tag.strip()).group(1) for tag in row["proof"].split(",")]
                self.assertEqual(tuple(proof), quirks.TAGS[name])
                self.assertTrue(row["changes"])

    def test_every_tag_has_a_code_path(self):
        source = ""
        for name in sorted(os.listdir(PACKAGE_DIR)):
            if name.endswith(".py") and name != "quirks.py":
                with open(os.path.join(PACKAGE_DIR, name)) as handle:
                    source += handle.read()
        used = set(re.findall(r'quirks\.(?:on|path)\("([a-z-]+)", "([a-z-]+)"\)', source))
        used |= {("error-wording", tag) for tag in re.findall(r'tag="([a-z-]+)"', source)}
        expected = {(name, tag) for name, tags in quirks.TAGS.items() for tag in tags}
        self.assertEqual(used, expected)
        self.assertEqual(set(quirks.TAGS), set(quirks.CATALOGUE))

    def test_one_part_per_chunk_runs_on_a_profile_that_allows_one_part(self):
        with open(os.path.join(CONFIG_DIR, "defects.toml")) as handle:
            text = handle.read()
        # defects.toml keeps the default large_min_parts (1): one part per chunk is legal.
        self.assertNotIn("large_min_parts", text)


class QuirkWorldTest(unittest.TestCase):
    overrides = {"s3__chunk_size_bytes": 6 * MIB}

    def setUp(self):
        self.world = World(**self.overrides)
        self.target = os.path.join(self.world.cfg.restore.target_base_dir, "restored")

    def tearDown(self):
        self.world.close()

    def backups(self, *quirk, sizes=(13 * MIB, 2 * MIB)):
        """Back up each size in turn; the logs of all the runs."""
        w = self.world
        texts = []
        for i, size in enumerate(sizes):
            w.write("data", payload(size, f"v{i}"))
            code, logs = w.backup("data", quirk=quirk)
            self.assertEqual(code, 0, logs.text)
            texts.append(logs.text)
            w.clock.advance(hours=1)
        return types.SimpleNamespace(text="".join(texts), events=lambda name: [
            line for line in "".join(texts).splitlines() if f" event={name} " in line + " "])

    def corrupt_last(self):
        w = self.world
        doc = w.s3.json(w.s3.json(f"{P}current.json")["manifest_key"])
        key = doc["chunks"][0]["key"]
        w.s3.objects[key]["body"] = b"X" + w.s3.objects[key]["body"][1:]
        return key


class ErrorWordingTest(QuirkWorldTest):
    def test_hash_mismatch(self):
        self.backups()
        key = self.corrupt_last()
        code, logs = self.world.restore(quirk=["error-wording"])
        self.assertEqual(code, 1)
        self.assertNotIn("integrity", logs.text.lower())
        self.assertNotIn("sha256", logs.text.lower())
        self.assertIn(f"error=hash mismatch for {key}: ", logs.events("restore_failed")[0])
        self.assertEqual(len(logs.events("chunk_hash_mismatch")), 1)
        self.assertIn(("error-wording", "hash"), quirk_paths(logs))

    def test_missing_keys(self):
        session = types.SimpleNamespace(get_credentials=lambda: None)
        boto3 = types.SimpleNamespace(session=types.SimpleNamespace(Session=lambda: session))
        config = types.SimpleNamespace(Config=dict)
        modules = {"boto3": boto3, "botocore": types.SimpleNamespace(config=config), "botocore.config": config}
        with mock.patch.dict(sys.modules, modules), quirks.activated("error-wording"), LogCapture() as logs:
            with self.assertRaises(CredentialsMissing) as caught:
                s3client.make_client("us-east-1")
            text = retry.describe(NoCredentialsError("Unable to locate credentials"))
        self.assertEqual(text, "S3 signing keys are not configured")
        self.assertIn("S3 signing keys are not configured", str(caught.exception))
        self.assertNotIn("credential", (str(caught.exception) + logs.text).lower())
        self.assertIn(("error-wording", "keys"), quirk_paths(logs))
        with mock.patch.dict(sys.modules, modules), self.assertRaisesRegex(CredentialsMissing, "credentials"):
            s3client.make_client("us-east-1")

    def test_lock_contention(self):
        w = self.world
        with Lock(w.cfg.global_.lock_path):
            code, logs = w.backup("data", quirk=["error-wording"])
        self.assertEqual(code, 1)
        self.assertRegex(logs.events("backup_lock_failed")[0], r"error=another run is active \(pid \d+\)$")
        self.assertIn(("error-wording", "lock"), quirk_paths(logs))

    def test_other_runtime_errors(self):
        self.backups()
        w = self.world
        key = w.s3.json(f"{P}current.json")["manifest_key"]
        doc = w.s3.json(key)
        doc["parent_manifest"] = key
        w.s3.objects[key]["body"] = json.dumps(doc).encode()
        code, logs = w.restore(quirk=["error-wording"])
        self.assertIn(f"error={key} comes back in the parents of {key}", logs.events("restore_failed")[0])
        code, logs = w.restore(quirk=["error-wording"], manifest_key=f"{P}full/manifest-20250110T030000Z.json")
        self.assertEqual(code, 0, logs.text)
        code, logs = w.restore(quirk=["error-wording"], manifest_key=f"{P}full/manifest-20250110T030000Z.json")
        self.assertIn("the path is taken", logs.events("restore_failed")[0])

    def test_s3_errors_and_default_wording(self):
        w = self.world
        for _ in range(4):
            w.s3.fail_next("PutObject", FakeClientError("InternalError", 500), key_contains="/manifest-")
        code, logs = w.backup("data", quirk=["error-wording"])
        self.assertEqual(code, 1)
        self.assertIn("error=S3 refused the request with InternalError (HTTP 500) fake error",
                      logs.events("backup_failed")[0])
        with Lock(w.cfg.global_.lock_path), self.assertRaisesRegex(LockHeld, "is held by pid"):
            Lock(w.cfg.global_.lock_path).acquire()


class DirectReceiveTest(QuirkWorldTest):
    def test_receives_next_to_the_target_and_renames(self):
        self.backups()
        w = self.world
        code, logs = w.restore(quirk=["direct-receive"])
        self.assertEqual(code, 0, logs.text)
        base = w.cfg.restore.target_base_dir
        self.assertEqual(os.listdir(base), ["restored"])
        self.assertEqual(FakeBtrfs.content(self.target), payload(2 * MIB, "v1"))
        self.assertFalse(w.btrfs.marker(self.target)["readonly"])
        self.assertIn(("receive", base), w.btrfs.calls)
        self.assertIn(("set_readonly", os.path.join(base, "data__20250110T040000Z__inc"), False), w.btrfs.calls)
        self.assertIn("status=ok", logs.events("restore_verify_complete")[0])
        self.assertEqual(quirk_paths(logs), {("direct-receive", "receive")})
        # a second restore of the same chain finds no received names in its way
        self.assertEqual(w.restore(target="again", quirk=["direct-receive"])[0], 0)

    def test_failure_removes_what_it_created_only(self):
        self.backups()
        w = self.world
        base = w.cfg.restore.target_base_dir
        os.mkdir(os.path.join(base, "unrelated"))
        self.corrupt_last()
        code, logs = w.restore(quirk=["direct-receive"])
        self.assertEqual(code, 1)
        self.assertEqual(os.listdir(base), ["unrelated"])

    def test_a_taken_name_is_refused_not_deleted(self):
        self.backups()
        w = self.world
        taken = os.path.join(w.cfg.restore.target_base_dir, "data__20250110T030000Z__full")
        os.mkdir(taken)
        code, logs = w.restore(quirk=["direct-receive"])
        self.assertEqual(code, 1)
        self.assertIn("already exists", logs.events("restore_failed")[0])
        self.assertTrue(os.path.isdir(taken))


class OnePartPerChunkTest(QuirkWorldTest):
    def test_one_part_per_multipart_chunk(self):
        logs = self.backups("one-part-per-chunk", sizes=(13 * MIB,))
        w = self.world
        parts = w.s3.ops("UploadPart")
        self.assertEqual(len(w.s3.ops("CompleteMultipartUpload")), 2)
        self.assertEqual([(p["part"], p["size"]) for p in parts], [(1, 6 * MIB), (1, 6 * MIB)])
        self.assertEqual(quirk_paths(logs), {("one-part-per-chunk", "multipart")})
        self.assertEqual(w.restore()[0], 0)

    def test_small_chunks_stay_single_puts(self):
        world = World()
        try:
            code, logs = world.backup("data", quirk=["one-part-per-chunk"])
            self.assertEqual(code, 0)
            self.assertEqual(world.s3.ops("UploadPart"), [])
            self.assertEqual(quirk_paths(logs), set())
        finally:
            world.close()


class ConcurrentChunksTest(QuirkWorldTest):
    overrides = {"s3__chunk_size_bytes": 1 * MIB, "s3__concurrency": 3}

    def test_later_chunks_may_finish_first_manifest_keeps_stream_order(self):
        w = self.world
        w.write("data", payload(5 * MIB + 10, "c"))
        second_stored = threading.Event()
        running, peak = [0], [0]
        lock = threading.Lock()
        original = w.s3.put_object

        def put_object(**kwargs):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                if kwargs["Key"].endswith("-0.bin"):
                    self.assertTrue(second_stored.wait(10), "chunk 1 never ran beside chunk 0")
                result = original(**kwargs)
                if kwargs["Key"].endswith("-1.bin"):
                    second_stored.set()
                return result
            finally:
                with lock:
                    running[0] -= 1

        w.s3.put_object = put_object
        code, logs = w.backup("data", quirk=["concurrent-chunks"])
        self.assertEqual(code, 0, logs.text)
        puts = [e["key"] for e in w.s3.ops("PutObject")]
        self.assertLess(puts.index(f"{P}full/chunk-20250110T030000Z-1.bin"),
                        puts.index(f"{P}full/chunk-20250110T030000Z-0.bin"))
        self.assertEqual(puts[-2:], [f"{P}full/manifest-20250110T030000Z.json", f"{P}current.json"])
        doc = w.s3.json(f"{P}full/manifest-20250110T030000Z.json")
        self.assertEqual([c["key"] for c in doc["chunks"]],
                         [f"{P}full/chunk-20250110T030000Z-{i}.bin" for i in range(6)])
        stream = b"".join(w.s3.body(c["key"]) for c in doc["chunks"])
        self.assertEqual(len(stream), doc["total_bytes"])
        self.assertLessEqual(peak[0], 3)
        self.assertGreaterEqual(peak[0], 2)
        self.assertEqual(quirk_paths(logs), {("concurrent-chunks", "upload")})
        self.assertEqual(w.restore()[0], 0)

    def test_a_failed_chunk_calls_off_the_others(self):
        w = World(s3__chunk_size_bytes=6 * MIB, s3__concurrency=2)
        try:
            w.write("data", payload(20 * MIB, "f"))
            w.s3.fail_next("UploadPart", FakeClientError("AccessDenied", 403), key_contains="-1.bin")
            code, logs = w.backup("data", quirk=["concurrent-chunks"])
            self.assertEqual(code, 1)
            self.assertEqual(w.s3.uploads, {})
            self.assertFalse([k for k in w.s3.objects if "manifest" in k or "current" in k])
            self.assertEqual(w.backup("data", quirk=["concurrent-chunks"])[0], 0)
        finally:
            w.close()

    def test_spool_bounds_chunks_in_flight(self):
        w = World(s3__chunk_size_bytes=1 * MIB, s3__spool_enabled=True, global__spool_size_bytes=1 * MIB)
        try:
            w.write("data", payload(3 * MIB, "s"))
            code, logs = w.backup("data", quirk=["concurrent-chunks"])
            self.assertEqual(code, 0, logs.text)
            self.assertEqual(os.listdir(w.cfg.global_.spool_dir), [])
        finally:
            w.close()


class ExtraFieldsTest(QuirkWorldTest):
    def test_events_documents_and_state(self):
        logs = self.backups("extra-fields")
        w = self.world
        for line in logs.text.splitlines():
            self.assertRegex(line, LINE_RE)
            self.assertRegex(line, r" event=\w+ run=[0-9a-f]{32} ")
            self.assertRegex(line, r" pid=\d+( error=.*)?$")
        self.assertRegex(logs.events("backup_uploaded")[0],
                         r"event=backup_uploaded run=\w+ subvolume=data manifest_key=\S+ chunk_count=3 ")
        pointer = w.s3.json(f"{P}current.json")
        self.assertEqual(pointer["written_by"], "btrfs_to_s3 1.0.0")
        doc = w.s3.json(pointer["manifest_key"])
        self.assertEqual(doc["tool"]["name"], "btrfs_to_s3")
        self.assertEqual(doc["tool"]["quirks"], ["extra-fields"])
        for chunk in doc["chunks"]:
            self.assertEqual(chunk["md5"], hashlib.md5(w.s3.body(chunk["key"])).hexdigest())
            self.assertEqual(chunk["sha256"], hashlib.sha256(w.s3.body(chunk["key"])).hexdigest())
        with open(w.cfg.global_.state_path) as handle:
            self.assertEqual(json.load(handle)["written_by"]["tool"], "btrfs_to_s3")
        self.assertEqual(quirk_paths(logs), {("extra-fields", t) for t in ("event", "manifest", "pointer")})
        code, logs = w.restore(quirk=["extra-fields"])
        self.assertEqual(code, 0, logs.text)
        self.assertRegex(logs.events("restore_complete")[0], r"event=restore_complete run=\w+ status=ok ")


class LogLevelsTest(QuirkWorldTest):
    def test_contract_events_move(self):
        logs = self.backups("log-levels", sizes=(1000,))
        for name in ("snapshot_created", "backup_metrics", "backup_uploaded"):
            self.assertIn(f" WARNING bts3.core event={name} ", logs.events(name)[0] + " ")
        self.assertIn(" INFO btrfs_to_s3.backup event=chunk_uploaded ", logs.events("chunk_uploaded")[0])
        for line in logs.text.splitlines():
            self.assertRegex(line, LINE_RE)
        w = self.world
        with Lock(w.cfg.global_.lock_path):
            code, logs = w.backup("data", quirk=["log-levels"])
        self.assertIn(" CRITICAL bts3.core event=backup_lock_failed ", logs.events("backup_lock_failed")[0])
        code, logs = w.restore(quirk=["log-levels"])
        self.assertEqual(code, 0)
        self.assertIn(" WARNING bts3.core event=restore_complete status=ok", logs.events("restore_complete")[0])
        self.assertEqual(quirk_paths(logs), {("log-levels", "levels")})
        code, logs = w.restore(quirk=["log-levels"])  # the target exists now
        self.assertIn(" CRITICAL bts3.core event=restore_failed ", logs.events("restore_failed")[0])


class VerifySamplingTest(QuirkWorldTest):
    def test_sample_mode_uses_the_quirk(self):
        self.backups()
        code, logs = self.world.restore(verify="sample", quirk=["verify-sampling"])
        self.assertEqual(code, 0, logs.text)
        self.assertIn("status=ok mode=sample", logs.events("restore_verify_complete")[0])
        self.assertEqual(quirk_paths(logs), {("verify-sampling", "sample")})
        code, logs = self.world.restore(target="full", verify="full", quirk=["verify-sampling"])
        self.assertEqual(quirk_paths(logs), set())


class RetryBackoffTest(QuirkWorldTest):
    def test_policy(self):
        with quirks.activated("retry-backoff"):
            self.assertEqual(s3client.client_config_kwargs()["retries"],
                             {"mode": "standard", "total_max_attempts": 1})
            self.assertEqual(s3client.client_config_kwargs()["read_timeout"], s3client.READ_TIMEOUT_SECONDS)
            retrier = s3client.make_retrier()
        self.assertIsInstance(retrier, FullJitterRetrier)
        self.assertEqual((retrier.attempts, retrier.base_delay, retrier.max_delay), (10, 0.25, 4.0))
        top = FullJitterRetrier(attempts=10, base_delay=0.25, max_delay=4.0, rng=lambda: 0.999999)
        low = FullJitterRetrier(attempts=10, base_delay=0.25, max_delay=4.0, rng=lambda: 0.0)
        with quirks.activated("retry-backoff"), LogCapture():
            self.assertEqual([round(top.delay(n), 2) for n in range(1, 8)], [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0])
            self.assertEqual(low.delay(3), 0.0)
        self.assertEqual(s3client.make_retrier().attempts, s3client.OUTER_ATTEMPTS)

    def test_budget_ends_a_call_that_never_succeeds(self):
        clock = [0.0]

        def slow_failure():
            clock[0] += 30.0  # a read timeout per attempt
            raise FakeClientError("SlowDown", 503)

        retrier = FullJitterRetrier(attempts=10, base_delay=0.25, max_delay=4.0, budget_seconds=90.0,
                                    sleep=lambda s: clock.__setitem__(0, clock[0] + s),
                                    monotonic=lambda: clock[0], rng=lambda: 1.0)
        with quirks.activated("retry-backoff"), LogCapture(), self.assertRaises(FakeClientError):
            retrier.call("put_object", slow_failure)
        self.assertLess(clock[0], 120.0)

    def test_backup_with_transient_faults_completes(self):
        w = self.world
        w.write("data", payload(13 * MIB, "r"))
        for op in ("UploadPart", "PutObject", "CompleteMultipartUpload", "HeadObject"):
            w.s3.fail_next(op, FakeClientError("SlowDown", 503))
        w.s3.fail_next("PutObject", ConnectionResetError("reset"))
        w.s3.fail_next("UploadPart", FakeClientError("InternalError", 500))

        def make_store():
            retrier = s3client.make_retrier()
            retrier.sleep = lambda s: None
            return Store(w.s3, "bkt", retrier)

        w.make_store = make_store
        code, logs = w.backup("data", quirk=["retry-backoff"])
        self.assertEqual(code, 0, logs.text)
        self.assertEqual(quirk_paths(logs), {("retry-backoff", "retry")})


class GracefulSigtermTest(unittest.TestCase):
    def run_with(self, quirk):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "config.toml")
            with open(config, "w") as handle:
                handle.write(to_toml(config_dict(tmp)))
            code = ("import os, signal, sys\n"
                    "from btrfs_to_s3 import cli\n"
                    "cli._run = lambda args: os.kill(os.getpid(), signal.SIGTERM)\n"
                    "sys.exit(cli.main(['backup', '--dry-run', '--config', %r]))\n") % config
            env = dict(os.environ, PYTHONPATH=TOOL_DIR, **{quirks.ENV_VAR: quirk})
            return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)

    def test_exit_143_after_cleanup(self):
        result = self.run_with("graceful-sigterm")
        self.assertEqual(result.returncode, 143, result.stderr)
        self.assertIn("event=quirk_path quirk=graceful-sigterm where=sigterm", result.stderr)
        self.assertTrue(result.stderr.rstrip().endswith("event=terminated signal=15"), result.stderr)
        self.assertEqual(self.run_with("").returncode, -signal.SIGTERM)

    def test_unknown_quirk_is_a_usage_error(self):
        self.assertEqual(self.run_with("nonsense").returncode, 2)


class AllQuirksTest(QuirkWorldTest):
    def test_every_quirk_at_once(self):
        logs = self.backups("all")
        w = self.world
        code, rlogs = w.restore(verify="sample", quirk=["all"])
        self.assertEqual(code, 0, rlogs.text)
        self.assertEqual(FakeBtrfs.content(self.target), payload(2 * MIB, "v1"))
        seen = quirk_paths(logs) | quirk_paths(rlogs)
        expected = {("concurrent-chunks", "upload"), ("one-part-per-chunk", "multipart"),
                    ("extra-fields", "event"), ("extra-fields", "manifest"), ("extra-fields", "pointer"),
                    ("log-levels", "levels"), ("direct-receive", "receive"), ("verify-sampling", "sample")}
        self.assertEqual(seen, expected)
        for line in (logs.text + rlogs.text).splitlines():
            self.assertRegex(line, LINE_RE)


if __name__ == "__main__":
    unittest.main()
