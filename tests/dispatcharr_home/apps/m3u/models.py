"""Dispatcharr's ``apps.m3u`` models as far as vod2strm meets them (field names and types as in
Dispatcharr; see docs/dispatcharr.md). Foreign keys into apps this mirror does not have
(``core.UserAgent``, ``core.StreamProfile``, django-celery-beat's ``PeriodicTask``) are left out."""

from django.db import models


class ServerGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)


class M3UAccount(models.Model):
    class Types(models.TextChoices):
        STADNARD = "STD", "Standard"  # sic: Dispatcharr's spelling
        XC = "XC", "Xtream Codes"

    class Status(models.TextChoices):
        IDLE = "idle", "Idle"
        FETCHING = "fetching", "Fetching"
        PARSING = "parsing", "Parsing"
        ERROR = "error", "Error"
        SUCCESS = "success", "Success"
        PENDING_SETUP = "pending_setup", "Pending Setup"
        DISABLED = "disabled", "Disabled"

    name = models.CharField(max_length=255, unique=True)
    server_url = models.URLField(max_length=1000, blank=True, null=True)
    file_path = models.CharField(max_length=255, blank=True, null=True)
    server_group = models.ForeignKey(
        ServerGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="m3u_accounts"
    )
    max_streams = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IDLE)
    last_message = models.TextField(null=True, blank=True)
    locked = models.BooleanField(default=False)
    # Dispatcharr declares no max_length (unlimited varchar on PostgreSQL); SQLite needs one.
    account_type = models.CharField(max_length=8, choices=Types.choices, default=Types.STADNARD)
    username = models.CharField(max_length=255, null=True, blank=True)
    password = models.CharField(max_length=255, null=True, blank=True)
    custom_properties = models.JSONField(default=dict, blank=True, null=True)
    refresh_interval = models.IntegerField(default=0)
    stale_stream_days = models.PositiveIntegerField(default=7)
    priority = models.PositiveIntegerField(default=0)

    def __str__(self):
        return self.name
