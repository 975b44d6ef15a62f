from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Label deliberately differs from Dispatcharr's ``vod``/``m3u`` (docs/catalog.md, "Two homes")."""

    name = "vod2strm.standalone"
    label = "vod2strm_catalog"
    verbose_name = "VOD catalog"
    default_auto_field = "django.db.models.BigAutoField"
