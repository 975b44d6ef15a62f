"""The core app: installed in the standalone home so Django finds ``manage.py vod2strm``."""

from django.apps import AppConfig


class Vod2strmConfig(AppConfig):
    name = "vod2strm"
    label = "vod2strm"
    verbose_name = "vod2strm"
    default_auto_field = "django.db.models.BigAutoField"
