"""Settings for one run: one schema, read once, validated, immutable.

Every setting is declared once, in :data:`SCHEMA`: its name, kind, default (per home for the
folders), bounds, help text, and whether the Dispatcharr plugin shows it as a field. Everything
else is derived from that declaration, so the doors cannot drift apart: :class:`Settings` takes its
defaults from it (and is checked against it at import), the plugin's ``fields`` come from
:func:`plugin_fields`, the standalone home reads ``VOD2STRM_<KEY>`` variables through
:func:`from_environment`, and ``tests/test_conf.py`` holds the README's Configuration table to
:func:`readme_table`.

Every door builds a :class:`Settings` through :func:`load` with its own overrides (CLI flags, the
plugin's ``context["settings"]``); the core only ever sees the frozen result, so a run never re-reads
Django settings mid-way and never sees a half-applied change.

Precedence: override (flag, plugin field) > ``settings.VOD2STRM`` > default. An override that is
``None`` or an empty string keeps the lower value: Dispatcharr hands unset plugin fields over as
empty values, and those must never clobber a configured setting.

Validation is strict because a bad value is expensive later: an unknown key is a typo whose
intended setting silently keeps its default, a ``base_url`` with a space breaks every ``.strm``,
and a state folder inside the library defeats the guard against an unmounted share. Each value is
checked where it is declared, and every refusal is a :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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
HOMES = ("standalone", "dispatcharr")

#: Keys of ``settings.VOD2STRM`` that are not run settings: they pick the home, and
#: :mod:`vod2strm.catalog.resolver` reads and validates them.
HOME_KEYS = ("CATALOG",)

ENV_PREFIX = "VOD2STRM_"
#: Environment variables vod2strm reads that are not settings (so the standalone home's loader
#: does not mistake them for misspelt ones), with who reads them.
ENVIRONMENT_ONLY = {
    "VOD2STRM_LOG_LEVEL": "the standalone home's logging level",
    "VOD2STRM_SETTINGS_FILE": "python -m vod2strm: the plugin's saved settings",
    "VOD2STRM_JOB_LOCK_FD": "the plugin's job process: its inherited job lock",
}
#: Left to test hooks (slowed writes, gates): never settings.
ENV_TEST_PREFIX = "VOD2STRM_TEST_"

#: Longest file or folder name most filesystems accept (ext4, NTFS and SMB cap a name at 255).
NAME_MAX_BYTES = 255


# -- the schema -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PluginField:
    """How the Dispatcharr plugin shows a setting; anything left out is derived from the setting."""

    label: str
    #: The field's help text when the settings page needs other words than the README.
    help: str | None = None
    default: Any = None
    placeholder: str | None = None
    #: ``(value, label)`` per choice, for a select; the values must be the setting's choices.
    options: tuple[tuple[str, str], ...] = ()
    #: Limits the settings page suggests, when narrower than the setting's bounds.
    min: float | None = None
    max: float | None = None
    step: float | None = None
    #: ``"password"``: the settings page masks the value (API keys, passwords).
    input_type: str | None = None


@dataclass(frozen=True)
class Setting:
    """One setting's declaration.

    ``kind`` picks the parser (see ``_PARSERS``); ``default`` is what :class:`Settings` gets when
    the key is unset, except for kinds whose default depends on the home (``home_defaults``: a
    relative path is taken from the working folder). ``help`` is Markdown: the meaning column of the
    README's Configuration table, and, without its markup, the plugin field's help text.
    """

    name: str
    kind: str
    default: Any
    help: str
    bounds: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    home_defaults: Mapping[str, str] | None = None
    #: The README's default cell, when the value itself does not read well there.
    doc_default: str | None = None
    #: None: not a plugin field (set through ``VOD2STRM``, the environment or a flag).
    plugin: PluginField | None = None

    def default_in(self, home: str) -> Any:
        """The default in ``home`` (``standalone`` or ``dispatcharr``)."""
        if self.home_defaults is None:
            return self.default
        return Path.cwd() / self.home_defaults[home]

    def plugin_default(self) -> Any:
        """The field's default: Dispatcharr merges it into the settings each action receives."""
        assert self.plugin is not None
        if self.plugin.default is not None:
            return self.plugin.default
        value = self.default_in("dispatcharr")
        if value is None or isinstance(value, tuple):
            return ""
        return str(value) if isinstance(value, Path) else value


_FOLDER_RULES = (
    'a name every filesystem accepts as it is (no `/\\:*?"<>|` or control characters, no leading '
    "dot, no trailing dot or space, not a DOS device name such as `CON`, at most 255 bytes)"
)

# fmt: off
SCHEMA_LIST: tuple[Setting, ...] = (
    Setting(
        "output_root", "path", None,
        "Absolute path of the library; `Movies/` and `TV Shows/` go under it. Not `/`.",
        home_defaults={"standalone": "library", "dispatcharr": "/data/vod2strm/library"},
        plugin=PluginField(
            "Library folder",
            help=(
                "Absolute path where the Movies and TV Shows folders are written (your media server's "
                "library share, mounted into Dispatcharr's container)."
            ),
            placeholder="/data/vod2strm/library",
        ),
    ),
    Setting(
        "state_dir", "path", None,
        "Local folder for the manifest, the run lock and the status file; it must be writable. Keep it "
        "off the network share: it may not be inside `output_root` or `adult_root`, nor hold them.",
        home_defaults={"standalone": "state", "dispatcharr": "/data/vod2strm/state"},
    ),
    Setting(
        "base_url", "url", "http://127.0.0.1:9191",
        "The address at which the media server reaches Dispatcharr; written into every proxy `.strm`. "
        "An http(s) URL with a host, optionally a port (1-65535) and a path prefix; no query, "
        "fragment, spaces or control characters.",
        plugin=PluginField(
            "Dispatcharr address for players",
            help=(
                "http(s) URL at which your media server reaches Dispatcharr; written into every .strm "
                "file in proxy mode. Empty means http://127.0.0.1:9191."
            ),
            default="",
            placeholder="http://192.168.1.10:9191",
        ),
    ),
    Setting(
        "url_mode", "choice", "proxy",
        "`proxy`: Dispatcharr's VOD proxy URL, which survives Dispatcharr's uuid changes. `direct`: the "
        "provider's own URL. **`direct` writes your provider username and password into every `.strm` "
        "file.**",
        choices=URL_MODES,
        plugin=PluginField(
            "Stream URLs",
            help=(
                "Proxy: .strm files point at Dispatcharr, which picks the provider and survives catalog "
                "refreshes. Direct writes your provider username and password into every .strm file: "
                "anyone who can read the library can read them."
            ),
            options=(("proxy", "Dispatcharr proxy (recommended)"), ("direct", "Provider's direct URL")),
        ),
    ),
    Setting(
        "write_nfo", "bool", True,
        "Write `.nfo` metadata next to each `.strm` (plus `tvshow.nfo`, `season.nfo`).",
        plugin=PluginField(
            "Write .nfo metadata",
            help="Title, year, plot, poster, IDs next to each .strm, for Jellyfin, Emby and Kodi.",
        ),
    ),
    Setting(
        "id_tag_style", "choice", "jellyfin",
        "Id tag in folder names: `jellyfin` (`[tmdbid-N]`), `emby` (`[tmdbid=N]`) or `none`.",
        choices=ID_TAG_STYLES,
        plugin=PluginField(
            "ID tag in folder names",
            options=(
                ("jellyfin", "Jellyfin: [tmdbid-123]"),
                ("emby", "Emby: [tmdbid=123]"),
                ("none", "None"),
            ),
        ),
    ),
    Setting(
        "name_clean_regex", "regex", DEFAULT_NAME_CLEAN_REGEX,
        "Regular expression removed from the start of titles: provider prefixes such as `EN - `, "
        "`|UK| `, `4K-`. `(?!)` turns clean-up off.",
        doc_default="built in",
        plugin=PluginField(
            "Title clean-up pattern",
            help=(
                'Regular expression removed from the start of titles (provider prefixes like "EN - ", '
                '"|UK| "). Empty restores the default; (?!) turns clean-up off.'
            ),
        ),
    ),
    Setting(
        "adult_mode", "choice", "exclude",
        "Adult titles: `exclude`, `include`, or `separate` (written under `adult_root`).",
        choices=ADULT_MODES,
        plugin=PluginField(
            "Adult titles",
            options=(
                ("exclude", "Leave out"),
                ("include", "Include"),
                ("separate", "Separate library folder"),
            ),
        ),
    ),
    Setting(
        "adult_root", "optional_path", None,
        "Absolute path; required when `adult_mode` is `separate`. Not `/`, and neither inside "
        "`output_root` nor holding it.",
        doc_default="none",
        plugin=PluginField(
            "Adult library folder",
            help="Absolute path; required when adult titles go to a separate folder.",
            placeholder="/data/vod2strm/adult",
        ),
    ),
    Setting(
        "categories_include", "list", (),
        "Only these categories (names or ids, comma- or newline-separated). Empty: all enabled ones.",
        plugin=PluginField(
            "Only these categories",
            help="Category names (or ids), one per line or comma-separated. Empty: all enabled categories.",
        ),
    ),
    Setting(
        "categories_exclude", "list", (),
        "Never these categories.",
        plugin=PluginField(
            "Skip these categories", help="Category names (or ids), one per line or comma-separated."
        ),
    ),
    Setting(
        "movies_folder", "folder", "Movies",
        f"Folder under `output_root` for movies; {_FOLDER_RULES}.",
    ),
    Setting(
        "series_folder", "folder", "TV Shows",
        "Folder under `output_root` for series; the same rules, and not the same name as `movies_folder`.",
    ),
    Setting(
        "follow_renames", "bool", False,
        "`false`: a title the provider renames keeps its folder and file names (its NFO gets the new "
        "title), so media servers keep its watch history. `true`: its files move to the new name and "
        "the old ones are removed in the same run; servers see a new item. A change of the naming "
        "settings always moves files.",
        plugin=PluginField(
            "Rename folders when a provider renames a title",
            help=(
                "Off: a renamed title keeps its folder and file names and shows its new title, so "
                "watched state and history stay. On: its files move to the new name (media servers "
                "then see a new item, without its history)."
            ),
        ),
    ),
    Setting(
        "cleanup_after_generate", "bool", False,
        "After a complete generate, remove the files the catalog no longer produces.",
        plugin=PluginField(
            "Clean up after each complete generate",
            help=(
                "Delete the files vod2strm wrote for titles that left the catalog. Never touches files "
                "it did not write; refuses when a provider outage would empty the library."
            ),
        ),
    ),
    Setting(
        "cleanup_max_share", "float", 0.2,
        (
            "Safety valve, per section (movies, series, under each root): cleanup refuses a section "
            "that would lose more than this share of its files, or whose catalog read was empty, "
            "unless forced (0-1)."
        ),
        bounds=(0.0, 1.0),
    ),
    Setting(
        "take_over_foreign_files", "bool", False,
        "Overwrite files at our paths that vod2strm did not write, and take them over.",
        plugin=PluginField("Take over files vod2strm did not write"),
    ),
    Setting(
        "overwrite_edited_files", "bool", False,
        "Rewrite files vod2strm wrote that a person or program changed since.",
        plugin=PluginField("Rewrite files changed since vod2strm wrote them"),
    ),
    Setting(
        "max_workers", "int", 16,
        "Most file writes in flight (1-256); the writer adapts between `min_workers` and this.",
        bounds=(1, 256),
        plugin=PluginField(
            "Parallel writes",
            help="Most files written at once (the writer adapts below this to the share's speed).",
        ),
    ),
    Setting(
        "min_workers", "int", 1,
        "Fewest writes in flight the adaptive throttle goes down to (1 to `max_workers`).",
        bounds=(1, 256),
    ),
    Setting("chunk_size", "int", 500, "Catalog rows read per query chunk (1-100000).", bounds=(1, 100_000)),
    Setting("fsync", "bool", False, "fsync each file before its atomic rename."),
    Setting(
        "writer_process", "bool", True,
        "Write files from a child process, so writing and rendering do not share one GIL (a cold run "
        "at S took 29.8–32.6 s instead of 46.9 s). `false`: threads in the run's own process.",
    ),
    Setting(
        "file_mode", "mode", None,
        "Octal permissions for created files, `000`-`777` (e.g. `664`); default: the umask. Setuid, "
        "setgid and sticky bits are refused; a world-writable mode is not, but in `direct` mode the "
        "files hold the provider password. An int in Python settings is the mode itself (`0o664`).",
        doc_default="none",
    ),
    Setting(
        "dir_mode", "mode", None,
        "Octal permissions for created folders, `000`-`777` (e.g. `775`); default: the umask.",
        doc_default="none",
    ),
    Setting(
        "group", "group", "",
        "Group for created files and folders (for a media server that runs as another user): a group "
        "that exists here, or a numeric gid.",
        doc_default="empty",
    ),
    Setting(
        "max_path_bytes", "int", 1024,
        "Longest path, in bytes, that a library file may get (64-4096); names are shortened to fit.",
        bounds=(64, 4096),
    ),
    Setting(
        "episodes_rate", "float", 0.5,
        "`fetch-episodes`: provider calls started per second, per account (0.01-1000).",
        bounds=(0.01, 1000.0),
    ),
    Setting(
        "episodes_concurrency", "int", 1,
        "`fetch-episodes`: calls in flight per account (1-64).",
        bounds=(1, 64),
    ),
    Setting(
        "episodes_cache_hours", "float", 24.0,
        "`fetch-episodes`: do not ask again about a series asked within this many hours (0-8760).",
        bounds=(0.0, 8760.0),
    ),
    Setting(
        "episodes_max_calls", "int", 200,
        "`fetch-episodes`: provider calls per run (`0`: no cap).",
        bounds=(0, 1_000_000),
    ),
    Setting(
        "autorun_settle_seconds", "float", 120.0,
        "Dispatcharr auto-run: how long the catalog must stay unchanged before generating (0-86400).",
        bounds=(0.0, 86_400.0),
        plugin=PluginField(
            "Auto-run settle time (seconds)",
            help="How long the VOD catalog must stay unchanged before an auto-run generates.",
            min=10,
            step=10,
        ),
    ),
    Setting(
        "autorun_daily_at", "time_of_day", "",
        "Dispatcharr: generate once a day at this time (`HH:MM`, 24-hour, in Dispatcharr's time zone), "
        "through Dispatcharr's Celery beat; empty: no daily run.",
        doc_default="empty",
        plugin=PluginField(
            "Daily generate at (HH:MM)",
            help=(
                "Generate once a day at this time (24-hour, Dispatcharr's time zone), whether or not "
                "a refresh happened. Empty: no daily run. Takes effect when the settings are saved."
            ),
            default="",
            placeholder="03:30",
        ),
    ),
    Setting(
        "jellyfin_url", "server_url", "",
        "Jellyfin to tell about each run's changes (`POST /Library/Media/Updated`), e.g. "
        "`http://192.168.1.20:8096`; an http(s) URL with a host, optionally a port and a path prefix, "
        "no user or password in it. Empty: Jellyfin is not told.",
        doc_default="empty",
        plugin=PluginField(
            "Jellyfin address",
            help="http(s) address of your Jellyfin server; vod2strm tells it what each run changed. "
            "Empty: Jellyfin is not told.",
            default="",
            placeholder="http://192.168.1.20:8096",
        ),
    ),
    Setting(
        "jellyfin_api_key", "token", "",
        "Jellyfin API key (Dashboard → API Keys); required with `jellyfin_url`. Never shown in logs or "
        "reports.",
        doc_default="empty",
        plugin=PluginField("Jellyfin API key", default="", input_type="password"),
    ),
    Setting(
        "jellyfin_path_map", "path_map", (),
        "How Jellyfin sees the library: `vod2strm path=Jellyfin path` pairs, comma- or "
        "newline-separated, e.g. `/data/vod2strm/library=/media/vod`. The longest matching prefix is "
        "replaced; a path no pair matches is sent as vod2strm sees it.",
        plugin=PluginField(
            "Jellyfin path mapping",
            help="One 'vod2strm path=Jellyfin path' pair per line, e.g. /data/vod2strm/library=/media/vod, "
            "when Jellyfin mounts the library at another path. Empty: the same path.",
        ),
    ),
    Setting(
        "emby_url", "server_url", "",
        "Emby to tell about each run's changes (`POST /emby/Library/Media/Updated`); as `jellyfin_url`. "
        "Empty: Emby is not told.",
        doc_default="empty",
        plugin=PluginField(
            "Emby address",
            help="http(s) address of your Emby server. Empty: Emby is not told.",
            default="",
            placeholder="http://192.168.1.20:8096",
        ),
    ),
    Setting(
        "emby_api_key", "token", "",
        "Emby API key (server dashboard → Advanced → Security → API Keys); required with `emby_url`.",
        doc_default="empty",
        plugin=PluginField("Emby API key", default="", input_type="password"),
    ),
    Setting(
        "emby_path_map", "path_map", (),
        "How Emby sees the library: pairs as for `jellyfin_path_map`.",
        plugin=PluginField(
            "Emby path mapping",
            help="One 'vod2strm path=Emby path' pair per line. Empty: the same path.",
        ),
    ),
    Setting(
        "kodi_url", "server_url", "",
        "Kodi's JSON-RPC address (its web server), e.g. `http://192.168.1.30:8080/jsonrpc` "
        "(`/jsonrpc` is added to a bare address); vod2strm asks it to scan, refresh and clean. Empty: "
        "Kodi is not told.",
        doc_default="empty",
        plugin=PluginField(
            "Kodi JSON-RPC address",
            help="Kodi's web server (Settings → Services → Control → Allow remote control via HTTP), "
            "e.g. http://192.168.1.30:8080/jsonrpc. Empty: Kodi is not told.",
            default="",
            placeholder="http://192.168.1.30:8080/jsonrpc",
        ),
    ),
    Setting(
        "kodi_user", "username", "",
        "Kodi web server's username (no `:`); empty when it asks for none.",
        doc_default="empty",
        plugin=PluginField("Kodi username", default="", placeholder="kodi"),
    ),
    Setting(
        "kodi_password", "password", "",
        "Kodi web server's password; needs `kodi_user`. Never shown in logs or reports.",
        doc_default="empty",
        plugin=PluginField("Kodi password", default="", input_type="password"),
    ),
    Setting(
        "kodi_path_map", "path_map", (),
        "How Kodi sees the library: pairs as for `jellyfin_path_map`; Kodi's side may be a URL, e.g. "
        "`/data/vod2strm/library=smb://nas/vod`.",
        plugin=PluginField(
            "Kodi path mapping",
            help="One 'vod2strm path=Kodi path' pair per line, e.g. /data/vod2strm/library=smb://nas/vod. "
            "Empty: the same path.",
        ),
    ),
    Setting(
        "notify_timeout", "float", 10.0,
        "Seconds a media server has to answer one request (1-120); a run gives each server at most "
        "three times this, retries included.",
        bounds=(1.0, 120.0),
        plugin=PluginField("Media server timeout (seconds)"),
    ),
)
# fmt: on

SCHEMA: dict[str, Setting] = {s.name: s for s in SCHEMA_LIST}


def _d(name: str) -> Any:
    return SCHEMA[name].default


@dataclass(frozen=True)
class Settings:
    """One run's configuration. Field names are the plugin's field ids and the ``VOD2STRM`` keys;
    defaults, bounds and help live in :data:`SCHEMA`."""

    output_root: Path
    state_dir: Path
    base_url: str = _d("base_url")
    url_mode: str = _d("url_mode")
    write_nfo: bool = _d("write_nfo")
    id_tag_style: str = _d("id_tag_style")
    name_clean_regex: str = _d("name_clean_regex")
    adult_mode: str = _d("adult_mode")
    adult_root: Path | None = _d("adult_root")  # noqa: RUF009 (None)
    categories_include: tuple[str, ...] = _d("categories_include")
    categories_exclude: tuple[str, ...] = _d("categories_exclude")
    movies_folder: str = _d("movies_folder")
    series_folder: str = _d("series_folder")
    follow_renames: bool = _d("follow_renames")
    cleanup_after_generate: bool = _d("cleanup_after_generate")
    cleanup_max_share: float = _d("cleanup_max_share")
    max_workers: int = _d("max_workers")
    min_workers: int = _d("min_workers")
    chunk_size: int = _d("chunk_size")
    fsync: bool = _d("fsync")
    writer_process: bool = _d("writer_process")
    file_mode: int | None = _d("file_mode")
    dir_mode: int | None = _d("dir_mode")
    group: str = _d("group")
    max_path_bytes: int = _d("max_path_bytes")
    episodes_rate: float = _d("episodes_rate")
    episodes_concurrency: int = _d("episodes_concurrency")
    episodes_cache_hours: float = _d("episodes_cache_hours")
    episodes_max_calls: int = _d("episodes_max_calls")
    autorun_settle_seconds: float = _d("autorun_settle_seconds")
    autorun_daily_at: str = _d("autorun_daily_at")
    jellyfin_url: str = _d("jellyfin_url")
    jellyfin_api_key: str = dataclasses.field(default=_d("jellyfin_api_key"), repr=False)
    jellyfin_path_map: tuple[tuple[str, str], ...] = _d("jellyfin_path_map")
    emby_url: str = _d("emby_url")
    emby_api_key: str = dataclasses.field(default=_d("emby_api_key"), repr=False)
    emby_path_map: tuple[tuple[str, str], ...] = _d("emby_path_map")
    kodi_url: str = _d("kodi_url")
    kodi_user: str = dataclasses.field(default=_d("kodi_user"), repr=False)
    kodi_password: str = dataclasses.field(default=_d("kodi_password"), repr=False)
    kodi_path_map: tuple[tuple[str, str], ...] = _d("kodi_path_map")
    notify_timeout: float = _d("notify_timeout")
    take_over_foreign_files: bool = _d("take_over_foreign_files")
    overwrite_edited_files: bool = _d("overwrite_edited_files")

    def media_servers(self) -> tuple[str, ...]:
        """The media servers to tell about each run's changes: those with an address."""
        configured = (("jellyfin", self.jellyfin_url), ("emby", self.emby_url), ("kodi", self.kodi_url))
        return tuple(name for name, url in configured if url)

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
        if self.follow_renames:  # only when on: the fingerprints of existing libraries stay as they were
            shaping["follow_renames"] = True  # turned on, names kept from renames follow them
        return hashlib.sha1(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


#: Bump when rendering changes in a way that must rewrite existing libraries.
FORMAT_VERSION = 1

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
if set(_FIELDS) != set(SCHEMA):  # a setting added to one and not the other: fail at import, loudly
    raise RuntimeError(f"Settings and SCHEMA disagree: {sorted(set(_FIELDS) ^ set(SCHEMA))}")


# -- loading -------------------------------------------------------------------------------------------


def load(overrides: Mapping[str, Any] | None = None, *, check_folders: bool = True) -> Settings:
    """Build the run's settings from Django's ``VOD2STRM`` dict plus the door's overrides.

    ``check_folders`` also checks that the state folder can be used (see :func:`check_state_dir`),
    so a run fails before it starts rather than at its first write there.
    """
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
    settings = build(raw, home=resolver.home())
    if check_folders:
        check_state_dir(settings.state_dir)
    return settings


def build(raw: Mapping[str, Any], *, home: str | None = None) -> Settings:
    """Validate a plain mapping into :class:`Settings`; raises ConfigError naming the bad key.

    ``None`` keeps a setting's default, and :data:`HOME_KEYS` are left to the resolver. Without
    ``home`` the folders have no default and are required.
    """
    unknown = [key for key in raw if key not in SCHEMA and key not in HOME_KEYS]
    if unknown:
        raise unknown_key(unknown[0], [*SCHEMA, *HOME_KEYS])
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if value is not None and key not in HOME_KEYS:
            values[key] = _PARSERS[SCHEMA[key].kind](key, value, SCHEMA[key])
    for required in ("output_root", "state_dir"):
        if required not in values:
            if home is None:
                raise ConfigError(required, "is required")
            values[required] = SCHEMA[required].default_in(home)
    settings = Settings(**values)
    _check_together(settings)
    return settings


def unknown_key(key: object, known: Iterable[str]) -> ConfigError:
    """The error for a key no setting has, naming the closest known one when there is one."""
    name = str(key)
    by_folded = {k.casefold(): k for k in known}
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=1)
    hint = f"; did you mean {by_folded[close[0]]}?" if close else ""
    return ConfigError(name if name.isprintable() else repr(name), f"unknown setting{hint}")


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``VOD2STRM_<KEY>`` variables as ``VOD2STRM`` keys (``VOD2STRM_CATALOG`` as ``CATALOG``).

    Empty values are left out (they keep the default). A ``VOD2STRM_`` variable that is neither a
    setting nor in :data:`ENVIRONMENT_ONLY` is an error naming the closest known variable: a typo
    must not leave its setting at the default unnoticed. Values are validated later, by
    :func:`load`, like every other source.
    """
    names = {f"{ENV_PREFIX}{name.upper()}": name for name in (*SCHEMA, *HOME_KEYS)}
    found: dict[str, str] = {}
    for variable, value in environ.items():
        if not variable.startswith(ENV_PREFIX) or variable in ENVIRONMENT_ONLY:
            continue
        if variable.startswith(ENV_TEST_PREFIX):
            continue
        if variable not in names:
            raise unknown_key(variable, [*names, *ENVIRONMENT_ONLY])
        if value != "":
            found[names[variable]] = value
    return found


def check_state_dir(state_dir: Path) -> None:
    """Refuse a state folder that cannot be used: a file, read-only, or without write permission.

    Checked without creating anything, from the folder itself or, when it does not exist yet, from
    the nearest folder above it that does (the run creates the rest).
    """
    path = Path(state_dir)
    existing = path
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == path else f" ({existing} is in the way)"
        raise ConfigError("state_dir", f"{str(path)!r} is not a folder{where}")
    effective = os.access in os.supports_effective_ids
    if not os.access(existing, os.W_OK | os.X_OK, effective_ids=effective):
        reason = "a read-only file system" if _read_only(existing) else "no write permission"
        where = "" if existing == path else f" (cannot create it in {existing})"
        raise ConfigError("state_dir", f"{str(path)!r} is not writable{where}: {reason}")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# -- the doors' views of the schema --------------------------------------------------------------


_PLUGIN_TYPES = {
    "bool": "boolean",
    "int": "number",
    "float": "number",
    "choice": "select",
    "list": "text",
    "path_map": "text",
}


def plugin_fields(
    insert_before: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """The Dispatcharr plugin's ``fields``: one per setting with a :class:`PluginField`, in schema
    order, with the plugin's own fields (which are no settings) inserted before the named ones."""
    inserts = insert_before or {}
    unplaced = set(inserts) - {s.name for s in SCHEMA_LIST if s.plugin is not None}
    if unplaced:
        raise ValueError(f"no plugin field to insert before: {sorted(unplaced)}")
    fields: list[dict[str, Any]] = []
    for spec in SCHEMA_LIST:
        if spec.plugin is None:
            continue
        fields.extend(dict(extra) for extra in inserts.get(spec.name, ()))
        fields.append(_plugin_field(spec))
    return fields


def _plugin_field(spec: Setting) -> dict[str, Any]:
    p = spec.plugin
    assert p is not None
    field: dict[str, Any] = {
        "id": spec.name,
        "label": p.label,
        "type": _PLUGIN_TYPES.get(spec.kind, "string"),
        "default": spec.plugin_default(),
    }
    if p.placeholder is not None:
        field["placeholder"] = p.placeholder
    if p.input_type is not None:
        field["input_type"] = p.input_type
    if spec.kind == "choice":
        if tuple(value for value, _ in p.options) != spec.choices:
            raise ValueError(f"{spec.name}: plugin options differ from the setting's choices")
        field["options"] = [{"value": value, "label": label} for value, label in p.options]
    if field["type"] == "number":
        low, high = spec.bounds or (None, None)
        for key, value in (
            ("min", p.min if p.min is not None else low),
            ("max", p.max if p.max is not None else high),
        ):
            if value is not None:
                field[key] = value
        step = p.step if p.step is not None else (1 if spec.kind == "int" else None)
        if step is not None:
            field["step"] = step
    field["help_text"] = p.help if p.help is not None else _plain(spec.help)
    return field


def _plain(markdown: str) -> str:
    return markdown.replace("**", "").replace("`", "")


def readme_table() -> list[str]:
    """The rows of the README's Configuration table (Markdown), header included."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for spec in SCHEMA_LIST:
        rows.append(f"| `{spec.name}` | {_doc_default(spec)} | {_cell(spec.help)} |")
    return rows


def _doc_default(spec: Setting) -> str:
    if spec.home_defaults is not None:
        cells = []
        for home, value in spec.home_defaults.items():
            shown = value if value.startswith("/") else f"./{value}"
            cells.append(f"`{shown}` ({'Dispatcharr' if home == 'dispatcharr' else home})")
        return ", ".join(cells)
    if spec.doc_default is not None:
        return spec.doc_default
    value = spec.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if value == ():
        return "empty"
    return f"`{value}`"


def _cell(markdown: str) -> str:
    """Table cell text: a ``|`` would end the cell, even inside a code span."""
    return markdown.replace("|", "\\|")


# -- parsers: one per kind, each raising ConfigError naming the key -----------------------------------


def _parse_path(key: str, value: Any, spec: Setting) -> Path:
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if "\x00" in text:
        raise ConfigError(key, f"must not contain a NUL character; got {text!r}")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ConfigError(key, f"must be an absolute path, got {str(path)!r}")
    if len(_resolved(path).parts) <= 1:
        raise ConfigError(key, f"must not be the file system root, got {str(path)!r}")
    return path


def _parse_optional_path(key: str, value: Any, spec: Setting) -> Path | None:
    if isinstance(value, str) and not value.strip():
        return None
    return _parse_path(key, value, spec)


def _parse_url(key: str, value: Any, spec: Setting) -> str:
    url = str(value).strip()
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        raise ConfigError(key, f"must not contain spaces or control characters; got {url!r}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(key, f"is not a valid URL ({exc}); got {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            key, f"must be an http(s) URL with a host, e.g. http://192.168.1.10:9191; got {url!r}"
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ConfigError(key, f"needs a port from 1 to 65535 after ':'; got {url!r}")
    if "?" in url or "#" in url:
        raise ConfigError(
            key, f"must not have a query (?...) or fragment (#...): paths are appended to it; got {url!r}"
        )
    return url


def _parse_choice(key: str, value: Any, spec: Setting) -> str:
    text = str(value).strip()
    if text not in spec.choices:
        raise ConfigError(key, f"must be one of {', '.join(spec.choices)}; got {text!r}")
    return text


def _parse_bool(key: str, value: Any, spec: Setting) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(key, f"must be true or false; got {value!r}")


def _number(key: str, value: Any, spec: Setting, kind: type) -> Any:
    if isinstance(value, bool):
        raise ConfigError(key, f"must be a number; got {value!r}")
    try:
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            number: Any = int(value.strip()) if isinstance(value, str) else int(value)
        else:
            number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            key, f"must be {'a whole number' if kind is int else 'a number'}; got {value!r}"
        ) from None
    assert spec.bounds is not None
    low, high = spec.bounds
    if not low <= number <= high:  # NaN fails this too
        raise ConfigError(key, f"must be between {low:g} and {high:g}; got {value!r}")
    return number


def _parse_int(key: str, value: Any, spec: Setting) -> int:
    return _number(key, value, spec, int)


def _parse_float(key: str, value: Any, spec: Setting) -> float:
    return _number(key, value, spec, float)


def _parse_mode(key: str, value: Any, spec: Setting) -> int | None:
    if isinstance(value, bool):
        raise ConfigError(key, f"must be an octal mode such as 664; got {value!r}")
    if isinstance(value, int):
        mode = value
    else:
        try:
            mode = int(str(value).strip(), 8)
        except ValueError:
            raise ConfigError(key, f"must be an octal mode such as 664; got {value!r}") from None
    if not 0 <= mode <= 0o777:
        raise ConfigError(
            key, f"must be an octal mode from 000 to 777 (no setuid, setgid or sticky bit); got {value!r}"
        )
    return mode


def _parse_list(key: str, value: Any, spec: Setting) -> tuple[str, ...]:
    if isinstance(value, str):
        parts: Iterable[Any] = re.split(r"[,\n]", value)
    elif isinstance(value, Iterable):
        parts = value
    else:
        parts = [value]
    return tuple(str(p).strip() for p in parts if str(p).strip())


def _parse_regex(key: str, value: Any, spec: Setting) -> str:
    text = str(value).strip()
    try:
        re.compile(text)
    except re.error as exc:
        raise ConfigError(key, f"invalid regular expression: {exc}") from None
    return text


def _parse_folder(key: str, value: Any, spec: Setting) -> str:
    from vod2strm.library.naming import safe_component
    from vod2strm.output.marker import MARKER_NAME

    name = str(value).strip()
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES:
        raise ConfigError(
            key, f"must be at most {NAME_MAX_BYTES} bytes; got {len(name.encode('utf-8', 'surrogatepass'))}"
        )
    if name.casefold() == MARKER_NAME.casefold():
        raise ConfigError(key, f"must not be {MARKER_NAME!r}, the name of the root marker")
    if safe_component(name) != name:
        raise ConfigError(key, f"must be {_plain(_FOLDER_RULES)}; got {name!r}")
    return name


def _parse_group(key: str, value: Any, spec: Setting) -> str:
    import grp

    name = str(value).strip()
    if not name:
        return ""
    if name.isdigit():
        if int(name) >= 2**32 - 1:
            raise ConfigError(key, f"gid out of range; got {name}")
        return name
    try:
        grp.getgrnam(name)
    except KeyError:
        raise ConfigError(
            key, f"unknown group {name!r}; give a group that exists on this machine, or a numeric gid"
        ) from None
    return name


_TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _parse_time_of_day(key: str, value: Any, spec: Setting) -> str:
    """``HH:MM`` (24-hour) as ``"HH:MM"``, or ``""`` for none."""
    text = str(value).strip()
    if not text:
        return ""
    match = _TIME_OF_DAY.fullmatch(text)
    if match is None:
        raise ConfigError(key, f"must be a time of day as HH:MM (00:00-23:59), or empty; got {text!r}")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _parse_server_url(key: str, value: Any, spec: Setting) -> str:
    """A media server's address, or ``""`` (off). A user or password in it is refused without
    echoing it: credentials have settings of their own, which no log or report shows."""
    url = str(value).strip()
    if not url:
        return ""
    authority = url.split("://", 1)[-1].split("/", 1)[0]
    if "@" in authority:
        raise ConfigError(
            key, "must not carry a user or password (user:password@); use the API key or Kodi's settings"
        )
    url = _parse_url(key, url, spec).rstrip("/")
    if key == "kodi_url" and not urlsplit(url).path:
        url += "/jsonrpc"  # Kodi's JSON-RPC endpoint on its web server
    return url


def _parse_token(key: str, value: Any, spec: Setting) -> str:
    """An API key: no spaces or control characters. The value is never repeated in the error."""
    text = str(value).strip()
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise ConfigError(key, "must not contain spaces or control characters (value not shown)")
    return text


def _parse_username(key: str, value: Any, spec: Setting) -> str:
    text = str(value).strip()
    if ":" in text or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise ConfigError(key, "must not contain ':' or control characters (value not shown)")
    return text


def _parse_password(key: str, value: Any, spec: Setting) -> str:
    """A password, kept as given (spaces are legitimate in it); control characters are refused."""
    text = str(value)
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise ConfigError(key, "must not contain control characters (value not shown)")
    return text


def _parse_path_map(key: str, value: Any, spec: Setting) -> tuple[tuple[str, str], ...]:
    """``local=server`` pairs (comma- or newline-separated) as ``((local, server), ...)``.

    The local side is an absolute path as vod2strm sees it; the server side is how the media server
    sees the same folder: a path (``/media/vod``, ``D:\\Media``) or a URL (``smb://nas/vod``).
    Trailing separators are dropped from both, so a pair maps whole path components.
    """
    pairs: list[tuple[str, str]] = []
    for entry in _parse_list(key, value, spec):
        local, sep, server = entry.partition("=")
        local, server = local.strip(), server.strip()
        if not sep or not local or not server:
            raise ConfigError(key, f"each entry must be 'vod2strm path=server path'; got {entry!r}")
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in entry):
            raise ConfigError(key, f"must not contain control characters; got {entry!r}")
        if not local.startswith("/"):
            raise ConfigError(key, f"the vod2strm side must be an absolute path; got {local!r}")
        local = local.rstrip("/") or "/"
        server = server.rstrip("/\\") if server.rstrip("/\\") else server
        if any(local == known for known, _ in pairs):
            raise ConfigError(key, f"{local!r} is mapped twice")
        pairs.append((local, server))
    return tuple(pairs)


_PARSERS: dict[str, Callable[[str, Any, Setting], Any]] = {
    "path": _parse_path,
    "optional_path": _parse_optional_path,
    "url": _parse_url,
    "choice": _parse_choice,
    "bool": _parse_bool,
    "int": _parse_int,
    "float": _parse_float,
    "mode": _parse_mode,
    "list": _parse_list,
    "regex": _parse_regex,
    "folder": _parse_folder,
    "group": _parse_group,
    "time_of_day": _parse_time_of_day,
    "server_url": _parse_server_url,
    "token": _parse_token,
    "username": _parse_username,
    "password": _parse_password,
    "path_map": _parse_path_map,
}
_unparsed = {s.kind for s in SCHEMA_LIST} - set(_PARSERS)
if _unparsed:
    raise RuntimeError(f"no parser for kinds {sorted(_unparsed)}")


# -- checks across settings ----------------------------------------------------------------------


def _resolved(path: Path) -> Path:
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _check_together(s: Settings) -> None:
    for server in ("jellyfin", "emby"):
        if getattr(s, f"{server}_url") and not getattr(s, f"{server}_api_key"):
            raise ConfigError(f"{server}_api_key", f"is required when {server}_url is set")
    if s.kodi_password and not s.kodi_user:
        raise ConfigError("kodi_user", "is required when kodi_password is set")
    if s.min_workers > s.max_workers:
        raise ConfigError(
            "min_workers", f"must not exceed max_workers ({s.max_workers}); got {s.min_workers}"
        )
    if s.movies_folder.casefold() == s.series_folder.casefold():
        raise ConfigError("series_folder", f"must differ from movies_folder; both are {s.series_folder!r}")
    roots = {"output_root": _resolved(s.output_root)}
    if s.adult_mode == "separate":
        if s.adult_root is None:
            raise ConfigError("adult_root", "is required when adult_mode is 'separate'")
        roots["adult_root"] = adult = _resolved(s.adult_root)
        if _within(adult, roots["output_root"]) or _within(roots["output_root"], adult):
            raise ConfigError(
                "adult_root",
                f"{str(s.adult_root)!r} must be neither inside output_root {str(s.output_root)!r} "
                "nor hold it",
            )
    state = _resolved(s.state_dir)
    for name, root in roots.items():
        if _within(state, root):
            where = "is" if state == root else "is inside"
            raise ConfigError(
                "state_dir",
                f"{str(s.state_dir)!r} {where} {name} {str(getattr(s, name))!r}: keep the state "
                "folder off the library, or an unmounted share would look like an empty library",
            )
        if _within(root, state):
            raise ConfigError(
                "state_dir", f"{str(s.state_dir)!r} holds {name} {str(getattr(s, name))!r}: keep them apart"
            )
