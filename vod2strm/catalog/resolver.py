"""Which home the core runs in, and that home's catalog models.

The only module that knows about homes. Everything else asks :func:`models` for model classes
whose field names are identical in both homes (docs/catalog.md), so one query serves both.

Home selection: ``settings.VOD2STRM["CATALOG"]`` (``"standalone"`` or ``"dispatcharr"``), else
``"dispatcharr"`` when the app module ``apps.vod`` is installed, else ``"standalone"``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from vod2strm.errors import ConfigError

if TYPE_CHECKING:
    from typing import ClassVar

    from django.db import models as django_models

    class CatalogModel(django_models.Model):
        """A catalog model class as the type checker sees it (there is no such class at run time).

        One home's concrete model is picked at run time, so no static class fits both homes: each
        is a concrete model with the default ``objects`` manager, and its fields (the same names in
        both homes, docs/catalog.md) are checked by the tests, not here.
        """

        objects: ClassVar[django_models.Manager[Any]]

        def __init__(self, **fields: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...

        class Meta:
            abstract = True


HOMES = ("standalone", "dispatcharr")


class CatalogModels(NamedTuple):
    M3UAccount: type[CatalogModel]
    VODCategory: type[CatalogModel]
    M3UVODCategoryRelation: type[CatalogModel]
    VODLogo: type[CatalogModel]
    Movie: type[CatalogModel]
    Series: type[CatalogModel]
    Episode: type[CatalogModel]
    M3UMovieRelation: type[CatalogModel]
    M3USeriesRelation: type[CatalogModel]
    M3UEpisodeRelation: type[CatalogModel]


def home() -> str:
    """The catalog home named by settings, or detected from the installed apps."""
    from django.apps import apps
    from django.conf import settings

    configured = (getattr(settings, "VOD2STRM", None) or {}).get("CATALOG")
    if configured:
        if configured not in HOMES:
            raise ConfigError("CATALOG", f"must be one of {', '.join(HOMES)}; got {configured!r}")
        return configured
    return "dispatcharr" if apps.is_installed("apps.vod") else "standalone"


@functools.cache
def _models_for(which: str) -> CatalogModels:
    from django.apps import apps

    if which == "dispatcharr":
        labels = {"M3UAccount": "m3u"}
        default = "vod"
    else:
        labels = {}
        default = "vod2strm_catalog"
    try:
        # get_model() is typed as returning any model; these are the home's catalog models.
        found = {
            name: cast("type[CatalogModel]", apps.get_model(labels.get(name, default), name))
            for name in CatalogModels._fields
        }
        return CatalogModels(**found)
    except LookupError as exc:
        raise ConfigError("CATALOG", f"the {which} catalog is not installed ({exc})") from None


def models() -> CatalogModels:
    """The current home's catalog model classes (resolved once per home)."""
    return _models_for(home())


def is_standalone() -> bool:
    return home() == "standalone"


def default_output_root() -> Path:
    """This home's default library folder (declared in :data:`vod2strm.conf.SCHEMA`)."""
    from vod2strm.conf import SCHEMA

    return SCHEMA["output_root"].default_in(home())


def default_state_dir() -> Path:
    """Local folder for the manifest, lock and status file: never on the (network) output share."""
    from vod2strm.conf import SCHEMA

    return SCHEMA["state_dir"].default_in(home())


def episode_refresher():
    """The home's episode refresher, or None: the standalone home has no provider to fetch
    episodes from."""
    if home() != "dispatcharr":
        return None
    from vod2strm.catalog.dispatcharr_home import DispatcharrRefresher

    return DispatcharrRefresher()
