from django.apps import AppConfig


class VODConfig(AppConfig):
    """Like Dispatcharr's: no explicit label, so the label is ``vod``."""

    name = "apps.vod"
    default_auto_field = "django.db.models.BigAutoField"
