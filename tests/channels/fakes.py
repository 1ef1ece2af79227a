"""The fake provider APIs live in devtools (make simulate uses them too)."""

from devtools.fake_providers import FakeApi, FakeTelegram, FakeTwilio, Recorded

__all__ = ["FakeApi", "FakeTelegram", "FakeTwilio", "Recorded"]
