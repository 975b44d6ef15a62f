"""Settings for one run: read once, validated, immutable.

Every door builds a :class:`Settings` through :func:`load` with its own overrides (CLI flags, the
plugin's ``context["settings"]``); the core only ever sees the frozen result, so a run never re-reads
Django settings mid-way and never sees a half-applied change.

Precedence: override (flag, plugin field) > ``settings.VOD2STRM`` > default. An override that is
``None`` or an empty string keeps the lower value: Dispatcharr hands unset plugin fields over as
empty values, and those must never clobber a configured setting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vod2strm.errors import ConfigError

#: Strips provider prefixes such as "EN - ", "|UK| ", "[FR] ", "4K-" (repeatedly), but leaves
#: hyphenated titles alone ("Ant-Man", "U-571", "B-Boy Blues"): a language/quality code must be
#: followed by a spaced separator, except for the quality tags that are never a title word. A
#: three-letter code takes a colon only when it is a known language ("CSI: Miami" stays).
DEFAULT_NAME_CLEAN_REGEX = (
    r"^(?:\s*(?:\|[^|]{1,16}\||\[[^\]]{1,16}\](?=[\s\[|]|$)"
    r"|(?:[A-Z]{2}|ENG|FRA|FRE|GER|DEU|SPA|ESP|ITA|POR|TUR|ARA|RUS|POL|NLD|HIN|4K|8K|UHD|FHD|HD|SD)"
    r"\s*[-:|]\s+"
    r"|[A-Z]{3}\s*[-|]\s+"
    r"|(?:4K|8K|UHD|FHD)\s*-))+\s*"
)

URL_MODES = ("proxy", "direct")
ID_TAG_STYLES = ("jellyfin", "emby", "none")
ADULT_MODES = ("exclude", "include", "separate")


@dataclass(frozen=True)
class Settings:
    """One run's configuration. Field names are the plugin's field ids and the ``VOD2STRM`` keys."""

    output_root: Path
    state_dir: Path
    base_url: str = "http://127.0.0.1:9191"
    url_mode: str = "proxy"
    write_nfo: bool = True
    id_tag_style: str = "jellyfin"
    name_clean_regex: str = DEFAULT_NAME_CLEAN_REGEX
    adult_mode: str = "exclude"
    adult_root: Path | None = None
    categories_include: tuple[str, ...] = ()
    categories_exclude: tuple[str, ...] = ()
    movies_folder: str = "Movies"
    series_folder: str = "TV Shows"
    cleanup_after_generate: bool = False
    cleanup_max_share: float = 0.2
    max_workers: int = 16
    min_workers: int = 1
    chunk_size: int = 500
    fsync: bool = False
    writer_process: bool = True
    file_mode: int | None = None
    dir_mode: int | None = None
    group: str = ""
    max_path_bytes: int = 1024
    episodes_rate: float = 0.5
    episodes_concurrency: int = 1
    episodes_cache_hours: float = 24.0
    episodes_max_calls: int = 200
    autorun_settle_seconds: float = 120.0
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name_clean(self) -> re.Pattern[str] | None:
        return re.compile(self.name_clean_regex) if self.name_clean_regex else None

    def roots(self) -> dict[str, Path]:
        """Output roots by the name the manifest records: ``main``, plus ``adult`` when separate."""
        roots = {"main": self.output_root}
        if self.adult_mode == "separate" and self.adult_root is not None:
            roots["adult"] = self.adult_root
        return roots

    def output_fingerprint(self) -> str:
        """Hash of every setting that shapes a file's path or bytes.

        Stored with each item in the manifest: when it changes, every item is rendered again
        (rendering then still writes only files whose bytes differ).
        """
        shaping = {
            "base_url": self.base_url,
            "url_mode": self.url_mode,
            "write_nfo": self.write_nfo,
            "id_tag_style": self.id_tag_style,
            "name_clean_regex": self.name_clean_regex,
            "movies_folder": self.movies_folder,
            "series_folder": self.series_folder,
            "max_path_bytes": self.max_path_bytes,
            "format": FORMAT_VERSION,
        }
        return hashlib.sha1(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


#: Bump when rendering changes in a way that must rewrite existing libraries.
FORMAT_VERSION = 1

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def load(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build the run's settings from Django's ``VOD2STRM`` dict plus the door's overrides."""
    from django.conf import settings as django_settings

    from vod2strm.catalog import resolver

    configured = getattr(django_settings, "VOD2STRM", None) or {}
    if not isinstance(configured, Mapping):
        raise ConfigError("VOD2STRM", "must be a dict of settings")
    raw: dict[str, Any] = {}
    for source in (configured, overrides or {}):
        for key, value in source.items():
            if value is None or (isinstance(value, str) and value.strip() == ""):
                continue
            raw[key] = value
    raw.setdefault("output_root", resolver.default_output_root())
    raw.setdefault("state_dir", resolver.default_state_dir())
    return build(raw)


def build(raw: Mapping[str, Any]) -> Settings:
    """Validate a plain mapping into :class:`Settings`; raises ConfigError naming the bad field."""
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _FIELDS or key == "extra":
            extra[key] = value
            continue
        values[key] = _coerce(key, value)
    for required in ("output_root", "state_dir"):
        if required not in values:
            raise ConfigError(required, "is required")
    settings = Settings(**values, extra=extra)
    _validate(settings)
    return settings


def _coerce(key: str, value: Any) -> Any:
    default = _FIELDS[key].default
    try:
        if key in ("output_root", "state_dir", "adult_root"):
            return Path(str(value)).expanduser()
        if key in ("categories_include", "categories_exclude"):
            return _split_list(value)
        if key in ("file_mode", "dir_mode"):
            return value if isinstance(value, int) else int(str(value), 8)
        if isinstance(default, bool):
            return _to_bool(value)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            return str(value).strip()
    except (TypeError, ValueError):
        raise ConfigError(key, f"invalid value {value!r}") from None
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _split_list(value: Any) -> tuple[str, ...]:
    parts = re.split(r"[,\n]", value) if isinstance(value, str) else [str(v) for v in value]
    return tuple(p.strip() for p in parts if p.strip())


def _validate(s: Settings) -> None:
    for name in ("output_root", "state_dir"):
        if not getattr(s, name).is_absolute():
            raise ConfigError(name, f"must be an absolute path, got {str(getattr(s, name))!r}")
    if s.adult_mode == "separate":
        if s.adult_root is None:
            raise ConfigError("adult_root", "is required when adult_mode is 'separate'")
        if not s.adult_root.is_absolute():
            raise ConfigError("adult_root", "must be an absolute path")
    parts = urlsplit(s.base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError("base_url", f"must be an http(s) URL, got {s.base_url!r}")
    for name, allowed in (
        ("url_mode", URL_MODES),
        ("id_tag_style", ID_TAG_STYLES),
        ("adult_mode", ADULT_MODES),
    ):
        if getattr(s, name) not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}; got {getattr(s, name)!r}")
    if s.name_clean_regex:
        try:
            re.compile(s.name_clean_regex)
        except re.error as exc:
            raise ConfigError("name_clean_regex", f"invalid regular expression: {exc}") from None
    if not 1 <= s.min_workers <= s.max_workers <= 256:
        raise ConfigError("max_workers", "workers must satisfy 1 <= min_workers <= max_workers <= 256")
    if s.chunk_size < 1:
        raise ConfigError("chunk_size", "must be at least 1")
    if not 0.0 <= s.cleanup_max_share <= 1.0:
        raise ConfigError("cleanup_max_share", "must be between 0 and 1")
    if s.max_path_bytes < 64:
        raise ConfigError("max_path_bytes", "must be at least 64")
    for name in ("movies_folder", "series_folder"):
        value = getattr(s, name)
        if not value or "/" in value or "\\" in value or value in (".", ".."):
            raise ConfigError(name, f"must be a plain folder name, got {value!r}")
    if s.episodes_rate <= 0 or s.episodes_concurrency < 1 or s.episodes_max_calls < 0:
        raise ConfigError("episodes_rate", "rate must be > 0, concurrency >= 1, max calls >= 0")
