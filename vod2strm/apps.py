"""The core app: installed in the standalone home so Django finds ``manage.py vod2strm``."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


class Vod2strmConfig(AppConfig):
    name = "vod2strm"
    label = "vod2strm"
    verbose_name = "vod2strm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_settings, "vod2strm")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A bad ``VOD2STRM`` setting reported when Django starts (``runserver``, ``migrate``, ``check``)
    rather than at the first run, hours later from cron.

    An unusable state folder is only a warning: it is the machine's state, not a setting, and
    must not stop ``migrate``.
    """
    from vod2strm import conf
    from vod2strm.errors import ConfigError

    try:
        settings = conf.load(check_folders=False)
    except ConfigError as exc:
        return [
            checks.Error(
                str(exc),
                hint="See the Configuration table in vod2strm's README.",
                obj=f"settings.VOD2STRM[{exc.field!r}]",
                id="vod2strm.E001",
            )
        ]
    try:
        conf.check_state_dir(settings.state_dir)
    except ConfigError as exc:
        return [checks.Warning(str(exc), obj="settings.VOD2STRM['state_dir']", id="vod2strm.W001")]
    return []
