import io
import re
import unittest

from btrfs_to_s3 import logs

LINE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} (DEBUG|INFO|WARNING|ERROR) [\w.]+ event=\w+( \S+=\S*)*( error=.*)?$")


class LogFormatTest(unittest.TestCase):
    def capture(self, level="INFO"):
        stream = io.StringIO()
        logs.setup(level, stream=stream)
        return stream

    def tearDown(self):
        logs.setup("CRITICAL", stream=io.StringIO())

    def test_line_shape(self):
        stream = self.capture()
        logs.event(logs.get("backup"), "snapshot_created", subvolume="data", path="/s/data__X__full", kind="full")
        line = stream.getvalue().rstrip("\n")
        self.assertRegex(line, LINE_RE)
        self.assertTrue(line.endswith(" INFO btrfs_to_s3.backup event=snapshot_created subvolume=data "
                                      "path=/s/data__X__full kind=full"), line)

    def test_error_is_last_and_one_line(self):
        text = logs.format_event("backup_failed", {"error": "boom\nsecond line", "subvolume": "data"})
        self.assertEqual(text, "event=backup_failed subvolume=data error=boom second line")

    def test_values_never_contain_spaces(self):
        text = logs.format_event("x", {"path": "/a b\nc", "n": None, "ok": True, "count": 3})
        self.assertEqual(text, "event=x path=/a\\x20b\\x0ac n=none ok=true count=3")

    def test_level_filters(self):
        stream = self.capture("WARNING")
        logs.event(logs.get("t"), "quiet")
        logs.event(logs.get("t"), "loud", level=30)
        self.assertNotIn("quiet", stream.getvalue())
        self.assertIn("WARNING btrfs_to_s3.t event=loud", stream.getvalue())

    def test_metrics(self):
        fields = logs.metrics_fields("data", 12_340_000, 1.0)
        self.assertEqual(fields, {"subvolume": "data", "total_bytes": 12_340_000,
                                  "elapsed_seconds": "1.000", "throughput": "12.34MB/s"})
        self.assertEqual(logs.throughput(5, 0), "0.00MB/s")
        self.assertEqual(logs.metrics_fields("d", 1, 0.12345)["elapsed_seconds"], "0.123")


if __name__ == "__main__":
    unittest.main()
