"""Catalog models mirroring Dispatcharr's ``apps.m3u`` and ``apps.vod`` (docs/catalog.md).

Model names, field names, ``related_name``s and uniqueness rules match Dispatcharr's, so the core's
queries run unchanged against either home. Only the fields vod2strm reads (plus what keeps the
shape honest) are mirrored.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.db import models
from django.db.models import Q
from django.utils import timezone


class M3UAccount(models.Model):
    class Types(models.TextChoices):
        STANDARD = "STD", "Standard"
        XC = "XC", "Xtream Codes"

    name = models.CharField(max_length=255, unique=True)
    server_url = models.URLField(max_length=1000, blank=True, null=True)
    account_type = models.CharField(max_length=5, choices=Types.choices, default=Types.STANDARD)
    username = models.CharField(max_length=255, null=True, blank=True)
    password = models.CharField(max_length=255, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(default=0, help_text="Higher wins when an item has several")
    custom_properties = models.JSONField(default=dict, blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "M3U account"

    def __str__(self) -> str:
        return self.name


class VODCategory(models.Model):
    CATEGORY_TYPES = [("movie", "Movie"), ("series", "Series")]

    name = models.CharField(max_length=255)
    category_type = models.CharField(max_length=10, choices=CATEGORY_TYPES, default="movie")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "VOD category"
        verbose_name_plural = "VOD categories"
        unique_together = [("name", "category_type")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.category_type})"


class M3UVODCategoryRelation(models.Model):
    m3u_account = models.ForeignKey(M3UAccount, on_delete=models.CASCADE, related_name="category_relations")
    category = models.ForeignKey(VODCategory, on_delete=models.CASCADE, related_name="m3u_relations")
    enabled = models.BooleanField(default=False)
    custom_properties = models.JSONField(default=dict, blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        unique_together = [("m3u_account", "category")]

    def __str__(self) -> str:
        return f"{self.category.name} at {self.m3u_account} ({'enabled' if self.enabled else 'disabled'})"


class VODLogo(models.Model):
    name = models.CharField(max_length=255)
    url = models.TextField(unique=True)

    class Meta:
        verbose_name = "VOD logo"

    def __str__(self) -> str:
        return self.name


class _Content(models.Model):
    """Fields Movie and Series share, in Dispatcharr's names."""

    uuid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, null=True)
    year = models.IntegerField(blank=True, null=True)
    rating = models.CharField(max_length=10, blank=True, null=True)
    genre = models.CharField(max_length=255, blank=True, null=True)
    logo = models.ForeignKey(VODLogo, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tmdb_id = models.CharField(max_length=50, blank=True, null=True, unique=True)
    imdb_id = models.CharField(max_length=50, blank=True, null=True, unique=True)
    custom_properties = models.JSONField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.year})" if self.year else self.name


class Movie(_Content):
    duration_secs = models.IntegerField(blank=True, null=True)
    is_adult = models.BooleanField(default=False, db_index=True)
    logo = models.ForeignKey(VODLogo, on_delete=models.SET_NULL, null=True, blank=True, related_name="movie")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "year"],
                condition=Q(tmdb_id__isnull=True, imdb_id__isnull=True),
                name="unique_movie_name_year_no_external_id",
            )
        ]


class Series(_Content):
    logo = models.ForeignKey(VODLogo, on_delete=models.SET_NULL, null=True, blank=True, related_name="series")

    class Meta:
        verbose_name_plural = "series"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "year"],
                condition=Q(tmdb_id__isnull=True, imdb_id__isnull=True),
                name="unique_series_name_year_no_external_id",
            )
        ]


class Episode(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, null=True)
    air_date = models.DateField(blank=True, null=True)
    rating = models.CharField(max_length=10, blank=True, null=True)
    duration_secs = models.IntegerField(blank=True, null=True)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="episodes")
    season_number = models.IntegerField(blank=True, null=True)
    episode_number = models.IntegerField(blank=True, null=True)
    tmdb_id = models.CharField(max_length=50, blank=True, null=True, db_index=True)
    imdb_id = models.CharField(max_length=50, blank=True, null=True, db_index=True)
    custom_properties = models.JSONField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Dispatcharr orders episodes through a join; vod2strm always orders explicitly.
        ordering = ["series__name", "season_number", "episode_number"]
        unique_together = [("series", "season_number", "episode_number")]

    def __str__(self) -> str:
        return f"S{self.season_number or 0:02d}E{self.episode_number or 0:02d} {self.name}"


def _normalize_server_url(url: str | None) -> str | None:
    """Scheme, host and base path of an XC server URL: a trailing ``*.php`` and the query go."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    path = parts.path.rstrip("/")
    if path.rsplit("/", 1)[-1].endswith(".php"):
        path = path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _xc_stream_url(account: M3UAccount, kind: str, stream_id: str, extension: str | None) -> str | None:
    if account.account_type != M3UAccount.Types.XC:
        return None
    server = _normalize_server_url(account.server_url)
    if not server:
        return None
    return f"{server}/{kind}/{account.username}/{account.password}/{stream_id}.{extension or 'mp4'}"


def _relation_str(account: M3UAccount, category: VODCategory | None, stream: str) -> str:
    """A provider relation as the admin lists it: ``Main: stream 42 in Action``."""
    return f"{account.name}: {stream}" + (f" in {category.name}" if category is not None else "")


class M3UMovieRelation(models.Model):
    m3u_account = models.ForeignKey(M3UAccount, on_delete=models.CASCADE, related_name="movie_relations")
    movie = models.ForeignKey(Movie, on_delete=models.CASCADE, related_name="m3u_relations")
    category = models.ForeignKey(VODCategory, on_delete=models.SET_NULL, null=True, blank=True)
    stream_id = models.CharField(max_length=255)
    container_extension = models.CharField(max_length=10, blank=True, null=True)
    custom_properties = models.JSONField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_advanced_refresh = models.DateTimeField(blank=True, null=True)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        unique_together = [("m3u_account", "stream_id")]

    def __str__(self) -> str:
        return _relation_str(self.m3u_account, self.category, f"stream {self.stream_id}")

    def get_stream_url(self) -> str | None:
        """The provider's own URL (XC accounts only); it carries the account's credentials."""
        return _xc_stream_url(self.m3u_account, "movie", self.stream_id, self.container_extension)


class M3USeriesRelation(models.Model):
    m3u_account = models.ForeignKey(M3UAccount, on_delete=models.CASCADE, related_name="series_relations")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="m3u_relations")
    category = models.ForeignKey(VODCategory, on_delete=models.SET_NULL, null=True, blank=True)
    external_series_id = models.CharField(max_length=255)
    custom_properties = models.JSONField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_episode_refresh = models.DateTimeField(blank=True, null=True)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        unique_together = [("m3u_account", "external_series_id")]

    def __str__(self) -> str:
        return _relation_str(self.m3u_account, self.category, f"series {self.external_series_id}")


class M3UEpisodeRelation(models.Model):
    m3u_account = models.ForeignKey(M3UAccount, on_delete=models.CASCADE, related_name="episode_relations")
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="m3u_relations")
    series_relation = models.ForeignKey(
        M3USeriesRelation, on_delete=models.CASCADE, null=True, blank=True, related_name="episode_relations"
    )
    stream_id = models.CharField(max_length=255)
    container_extension = models.CharField(max_length=10, blank=True, null=True)
    custom_properties = models.JSONField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        unique_together = [("m3u_account", "stream_id")]

    def __str__(self) -> str:
        return _relation_str(self.m3u_account, None, f"stream {self.stream_id}")

    def get_stream_url(self) -> str | None:
        """The provider's own URL (XC accounts only); it carries the account's credentials."""
        return _xc_stream_url(self.m3u_account, "series", self.stream_id, self.container_extension)
