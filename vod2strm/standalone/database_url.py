"""``DATABASE_URL`` parsing for the standalone home (SQLite or PostgreSQL only).

Small enough to own rather than add dj-database-url: two schemes, and errors that name the setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def parse(url: str, base_dir: Path) -> dict[str, Any]:
    """Turn ``sqlite:///path`` or ``postgres://user:pass@host:port/name`` into a DATABASES entry."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path)
        if path in ("", "/"):
            raise ImproperlyConfigured("DATABASE_URL: sqlite URL needs a path, e.g. sqlite:///db.sqlite3")
        name = path[1:]  # sqlite:///rel.db -> "rel.db"; sqlite:////abs.db -> "/abs.db"
        if name == ":memory:":
            return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
        resolved = Path(name) if Path(name).is_absolute() else base_dir / name
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(resolved)}
    if scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured("DATABASE_URL: PostgreSQL URL needs a database name")
        options = dict(parse_qsl(parts.query))
        host = unquote(parts.hostname or "") if "%2F" not in (parts.netloc or "") else ""
        if not host and "host" in options:
            host = options.pop("host")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": host,
            "PORT": str(port or ""),
            "OPTIONS": {"connect_timeout": 5, **options},
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use sqlite:///path or postgres://...)"
    )
