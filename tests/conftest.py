"""Fixtures shared by the whole suite. Keep this small: module-specific fixtures live with their tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from vod2strm import conf


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., conf.Settings]:
    """Build a validated :class:`vod2strm.conf.Settings` rooted in ``tmp_path``.

    ``settings_factory(url_mode="direct")`` -> output under ``tmp_path/library``, state under
    ``tmp_path/state`` (both created), plus the given overrides.
    """

    def build(**overrides: Any) -> conf.Settings:
        raw: dict[str, Any] = {
            "output_root": tmp_path / "library",
            "state_dir": tmp_path / "state",
            **overrides,
        }
        for key in ("output_root", "state_dir"):
            Path(raw[key]).mkdir(parents=True, exist_ok=True)
        return conf.build(raw)

    return build


@pytest.fixture
def capture_queries(db) -> Callable[[], CaptureQueriesContext]:
    """``with capture_queries() as q: ...`` then ``len(q)`` / ``q.captured_queries``.

    Unlike pytest-django's ``django_assert_num_queries`` it asserts nothing, so a test can compare
    the counts of two runs (e.g. a catalog and one ten times larger).
    """
    return lambda: CaptureQueriesContext(connection)
