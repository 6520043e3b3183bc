import os
import tempfile
import unittest

from btrfs_to_s3 import config
from btrfs_to_s3.errors import ConfigError

from tests.fakes import config_dict, to_toml


class ConfigTest(unittest.TestCase):
    root = "/srv"

    def parse(self, data):
        return config.parse(data, path="/etc/b.toml")

    def test_valid_config_parses(self):
        cfg = self.parse(config_dict(self.root))
        self.assertEqual(cfg.s3.chunk_size_bytes, 1024 * 1024)
        self.assertEqual(cfg.schedule.run_at, (2, 0))
        self.assertEqual(cfg.subvolume_names(), ["data", "home"])
        self.assertEqual(cfg.subvolume_path("home"), "/srv/fs/home")
        self.assertIsNone(cfg.subvolume_path("nope"))
        self.assertEqual(cfg.global_.log_level, "INFO")

    def test_every_key_is_required_and_named(self):
        for section, table in config_dict(self.root).items():
            for key in table:
                data = config_dict(self.root)
                del data[section][key]
                with self.subTest(key=f"{section}.{key}"):
                    with self.assertRaisesRegex(ConfigError, rf"\[{section}\] {key}: missing"):
                        self.parse(data)

    def test_missing_section(self):
        data = config_dict(self.root)
        del data["restore"]
        with self.assertRaisesRegex(ConfigError, r"section \[restore\] is missing"):
            self.parse(data)

    def test_unknown_key_and_section(self):
        data = config_dict(self.root)
        data["s3"]["endpoint"] = "http://x"
        with self.assertRaisesRegex(ConfigError, r"\[s3\] endpoint: unknown key"):
            self.parse(data)
        data = config_dict(self.root)
        data["extra"] = {}
        with self.assertRaisesRegex(ConfigError, r"unknown section \[extra\]"):
            self.parse(data)

    def test_bad_values_name_the_key(self):
        cases = [
            ("global__log_level", "LOUD", r"\[global\] log_level: must be one of"),
            ("global__state_path", "rel/state.json", r"\[global\] state_path: must be an absolute path"),
            ("global__spool_size_bytes", 0, r"spool_size_bytes: must be >= 1"),
            ("schedule__full_every_days", -1, r"full_every_days: must be >= 0"),
            ("schedule__incremental_every_days", "1", r"incremental_every_days: must be a number"),
            ("schedule__run_at", "25:00", r"run_at: must be \"HH:MM\""),
            ("schedule__run_at", "2:00", r"run_at: must be \"HH:MM\""),
            ("snapshots__retain", 0, r"\[snapshots\] retain: must be >= 1"),
            ("snapshots__retain", True, r"retain: must be an integer"),
            ("subvolumes__paths", [], r"paths: must be a non-empty array"),
            ("subvolumes__paths", ["data"], r"paths: every entry must be an absolute path"),
            ("subvolumes__paths", ["/a/data", "/b/data"], r"two subvolumes share the name 'data'"),
            ("s3__bucket", "", r"\[s3\] bucket: must not be empty"),
            ("s3__chunk_size_bytes", 0, r"chunk_size_bytes: must be >= 1"),
            ("s3__storage_class_chunks", "COLD", r"storage_class_chunks: must be one of"),
            ("s3__storage_class_manifest", "GLACIER", r"storage_class_manifest: GLACIER is an archive class"),
            ("s3__concurrency", 0, r"concurrency: must be >= 1"),
            ("s3__spool_enabled", "yes", r"spool_enabled: must be true or false"),
            ("s3__sse", "aws:kms", r"\[s3\] sse: must be one of AES256"),
            ("restore__verify_mode", "all", r"verify_mode: must be one of full, sample, none"),
            ("restore__sample_max_files", 0, r"sample_max_files: must be >= 1"),
            ("restore__wait_for_restore", 1, r"wait_for_restore: must be true or false"),
            ("restore__restore_timeout_seconds", -5, r"restore_timeout_seconds: must be >= 0"),
            ("restore__restore_tier", "Fast", r"restore_tier: must be one of"),
        ]
        for key, value, pattern in cases:
            with self.subTest(key=key, value=value):
                with self.assertRaisesRegex(ConfigError, pattern):
                    self.parse(config_dict(self.root, **{key: value}))

    def test_spool_must_hold_a_chunk(self):
        data = config_dict(self.root, s3__spool_enabled=True, s3__chunk_size_bytes=10,
                           global__spool_size_bytes=5)
        with self.assertRaisesRegex(ConfigError, r"chunk_size_bytes: 10 exceeds \[global\] spool_size_bytes"):
            self.parse(data)

    def test_case_folding_and_numbers(self):
        cfg = self.parse(config_dict(self.root, global__log_level="debug", restore__restore_tier="bulk",
                                     schedule__incremental_every_days=0.5))
        self.assertEqual(cfg.global_.log_level, "DEBUG")
        self.assertEqual(cfg.restore.restore_tier, "Bulk")
        self.assertEqual(cfg.schedule.incremental_every_days, 0.5)

    def test_load_from_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "c.toml")
            with open(path, "w") as handle:
                handle.write(to_toml(config_dict(tmp)))
            self.assertEqual(config.load(path).path, path)
            with open(path, "w") as handle:
                handle.write("[global\n")
            with self.assertRaisesRegex(ConfigError, "invalid TOML"):
                config.load(path)
            with self.assertRaisesRegex(ConfigError, "file not found"):
                config.load(os.path.join(tmp, "missing.toml"))
        with self.assertRaisesRegex(ConfigError, "must be absolute"):
            config.load("relative.toml")


if __name__ == "__main__":
    unittest.main()
