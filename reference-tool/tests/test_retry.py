import unittest

from btrfs_to_s3 import defects, retry, s3client
from tests.fakes import ConnectionClosedError, FakeClientError, NoCredentialsError


class ClassifyTest(unittest.TestCase):
    def test_retryable(self):
        self.assertTrue(retry.is_retryable(FakeClientError("SlowDown", 503)))
        self.assertTrue(retry.is_retryable(FakeClientError("InternalError", 500)))
        self.assertTrue(retry.is_retryable(FakeClientError("Whatever", 502)))
        self.assertTrue(retry.is_retryable(ConnectionClosedError("reset")))
        self.assertTrue(retry.is_retryable(ConnectionResetError()))

    def test_not_retryable(self):
        self.assertFalse(retry.is_retryable(FakeClientError("AccessDenied", 403)))
        self.assertFalse(retry.is_retryable(FakeClientError("NoSuchUpload", 404)))
        self.assertFalse(retry.is_retryable(ValueError("bug")))
        self.assertFalse(retry.is_retryable(NoCredentialsError()))
        self.assertTrue(retry.is_missing_credentials(NoCredentialsError()))

    def test_not_found(self):
        self.assertTrue(retry.is_not_found(FakeClientError("404", 404)))
        self.assertTrue(retry.is_not_found(FakeClientError("NoSuchKey", 404)))
        self.assertFalse(retry.is_not_found(FakeClientError("SlowDown", 503)))


class RetrierTest(unittest.TestCase):
    def make(self, attempts=4):
        self.sleeps = []
        return retry.Retrier(attempts=attempts, sleep=self.sleeps.append, rng=lambda: 1.0)

    def flaky(self, failures, exc):
        calls = []

        def fn():
            calls.append(1)
            if len(calls) <= failures:
                raise exc
            return "ok"
        return fn, calls

    def test_retries_then_succeeds(self):
        fn, calls = self.flaky(2, FakeClientError("SlowDown", 503))
        self.assertEqual(self.make().call("put_object", fn), "ok")
        self.assertEqual(len(calls), 3)
        self.assertEqual(self.sleeps, [1.0, 2.0])

    def test_gives_up(self):
        fn, calls = self.flaky(10, FakeClientError("SlowDown", 503))
        with self.assertRaises(FakeClientError):
            self.make(attempts=3).call("put_object", fn)
        self.assertEqual(len(calls), 3)

    def test_permanent_error_is_not_retried(self):
        fn, calls = self.flaky(10, FakeClientError("AccessDenied", 403))
        with self.assertRaises(FakeClientError):
            self.make().call("put_object", fn)
        self.assertEqual(len(calls), 1)

    def test_backoff_is_capped(self):
        r = retry.Retrier(attempts=10, base_delay=1, max_delay=5, rng=lambda: 1.0)
        self.assertEqual([r.delay(n) for n in (1, 2, 3, 4, 5)], [1, 2, 4, 5, 5])


class ClientSettingsTest(unittest.TestCase):
    def test_default_has_timeouts_and_retries(self):
        kwargs = s3client.client_config_kwargs()
        self.assertEqual(kwargs["connect_timeout"], s3client.CONNECT_TIMEOUT_SECONDS)
        self.assertEqual(kwargs["read_timeout"], s3client.READ_TIMEOUT_SECONDS)
        self.assertGreater(kwargs["retries"]["total_max_attempts"], 1)
        self.assertNotIn("max_attempts", kwargs["retries"])
        self.assertGreater(s3client.make_retrier().attempts, 1)

    def test_defects(self):
        with defects.activated("no-timeout"):
            kwargs = s3client.client_config_kwargs()
            self.assertIsNone(kwargs["connect_timeout"])
            self.assertIsNone(kwargs["read_timeout"])
        with defects.activated("no-retry"):
            # total_max_attempts: botocore's max_attempts = 1 would retry once.
            self.assertEqual(s3client.client_config_kwargs()["retries"], {"mode": "standard", "total_max_attempts": 1})
            self.assertEqual(s3client.make_retrier().attempts, 1)



class StoppingTest(unittest.TestCase):
    def test_no_retry_once_stopping(self):
        calls = []

        def fn():
            calls.append(1)
            raise FakeClientError("SlowDown", 503)

        retry.stopping.set()
        try:
            with self.assertRaises(FakeClientError):
                retry.Retrier(attempts=5, sleep=lambda s: None).call("op", fn)
        finally:
            retry.stopping.clear()
        self.assertEqual(len(calls), 1)


if __name__ == "__main__":
    unittest.main()
