"""``python -m vod2strm <command> [flags]``: the command line without ``manage.py``.

The out-of-process door. It works where ``vod2strm`` is not an installed Django app — inside
Dispatcharr it is only a plugin folder on ``sys.path`` — because it sets Django up itself and runs
the CLI's ``Command`` object directly instead of looking it up among the installed apps.

Settings module: ``--settings`` > ``DJANGO_SETTINGS_MODULE`` > ``dispatcharr.settings`` when that
project is importable (a shell inside Dispatcharr's container) > ``vod2strm.standalone.settings``.

Plugin settings: when ``VOD2STRM_SETTINGS_FILE`` names a JSON object (the Dispatcharr plugin writes
one into its state folder), its keys are merged over ``settings.VOD2STRM`` before the command runs,
so ``conf.load`` sees them with the usual precedence (flag > plugin/Django setting > default);
``None`` and ``""`` values keep the lower value, as everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SETTINGS_FILE_ENV = "VOD2STRM_SETTINGS_FILE"
STANDALONE_SETTINGS = "vod2strm.standalone.settings"
DISPATCHARR_SETTINGS = "dispatcharr.settings"

_base_vod2strm: dict[str, Any] | None = None


def default_settings_module() -> str:
    """``dispatcharr.settings`` when Dispatcharr's project is importable, else the standalone one.

    Probed without importing the project package (``dispatcharr/__init__`` starts Celery's app).
    """
    for entry in sys.path:
        if (Path(entry or os.getcwd()) / "dispatcharr" / "settings.py").is_file():
            return DISPATCHARR_SETTINGS
    return STANDALONE_SETTINGS


def _pre_parse(argv: Sequence[str]) -> list[str]:
    """Apply ``--settings``/``--pythonpath`` before Django starts (as ``manage.py`` does)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--settings")
    pre.add_argument("--pythonpath")
    known, _ = pre.parse_known_args(list(argv))
    if known.pythonpath:
        sys.path.insert(0, known.pythonpath)
    if known.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = known.settings
    return list(argv)


def setup(argv: Sequence[str] = ()) -> None:
    """Configure Django for an out-of-process run and merge the plugin's settings file.

    ``sys.argv`` reads ``manage.py vod2strm …`` while the settings module is imported and apps
    become ready: Dispatcharr's apps decide from argv whether they are a management command (no
    live-proxy server, no startup tasks, the ``manage-vod2strm`` database role), and that is what
    this process is.
    """
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        os.environ["DJANGO_SETTINGS_MODULE"] = default_settings_module()
    # Dispatcharr: this process is not a web worker; never discover (import) plugins here.
    os.environ.setdefault("DISPATCHARR_SKIP_PLUGIN_AUTODISCOVERY", "1")
    import django

    saved = sys.argv
    sys.argv = ["manage.py", "vod2strm", *argv]
    try:
        django.setup()
    finally:
        sys.argv = saved
    apply_settings_file()


def read_settings_file(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The plugin's settings (a JSON object), ``{}`` when no file is configured."""
    path = path or os.environ.get(SETTINGS_FILE_ENV)
    if not path:
        return {}
    from vod2strm.errors import ConfigError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(SETTINGS_FILE_ENV, f"file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(SETTINGS_FILE_ENV, f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(SETTINGS_FILE_ENV, f"{path} must hold a JSON object")
    return data


def apply_settings_file(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Merge the settings file over ``settings.VOD2STRM`` (again on each call: files change).

    Returns the merged dict. The Django-configured values are remembered on the first call, so a
    key removed from the file falls back to them rather than to a previous file's value.
    """
    global _base_vod2strm
    from django.conf import settings

    if _base_vod2strm is None:
        configured = getattr(settings, "VOD2STRM", None) or {}
        _base_vod2strm = dict(configured) if isinstance(configured, Mapping) else {}
    overrides = read_settings_file(path)
    merged = dict(_base_vod2strm)
    for key, value in overrides.items():
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        merged[key] = value
    settings.VOD2STRM = merged
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CLI command; returns its exit status (docs/cli.md)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from vod2strm import interrupt

    # First of all: a signal while Django starts ends with one line and status 130, as later on.
    interrupt.install(json_output="--json" in argv)
    argv = _pre_parse(argv)
    from django.core.exceptions import ImproperlyConfigured

    try:
        setup(argv)
    except ImproperlyConfigured as exc:
        return _fail(argv, f"configuration error: {exc}", 2)
    except ImportError as exc:
        return _fail(argv, f"cannot load the Django settings: {exc}", 2)
    except Exception as exc:  # ConfigError from the settings file, and its kin
        from vod2strm.errors import Vod2strmError

        if not isinstance(exc, Vod2strmError):
            raise
        return _fail(argv, str(exc), exc.exit_code)
    from vod2strm.management.commands.vod2strm import Command

    try:
        Command().run_from_argv(["python -m", "vod2strm", *argv])
    except SystemExit as exc:
        return _exit_status(exc.code)
    return 0


def _fail(argv: Sequence[str], message: str, code: int) -> int:
    """A failure before the command could run: one line on stderr (and the JSON object with --json)."""
    from vod2strm import interrupt

    interrupt.answering()
    print(f"vod2strm: {message}", file=sys.stderr)
    if "--json" in argv:
        print(json.dumps({"error": message, "exit": code}))
    return code


def _exit_status(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
