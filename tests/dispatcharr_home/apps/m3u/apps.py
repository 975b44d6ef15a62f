from django.apps import AppConfig


class M3UConfig(AppConfig):
    """Like Dispatcharr's: no explicit label, so the label is ``m3u``."""

    name = "apps.m3u"
    default_auto_field = "django.db.models.BigAutoField"
