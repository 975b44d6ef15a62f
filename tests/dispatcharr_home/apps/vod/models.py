"""Dispatcharr's ``apps.vod`` models, mirrored for tests of the Dispatcharr home.

Model names, field names and types, ``related_name``s, uniqueness rules and ``Meta.ordering``
follow Dispatcharr (docs/dispatcharr.md lists the facts) — including Episode's ordering through
``series__name``, a join the core must never pay for (it always orders explicitly).
"""

import uuid
from urllib.parse import urlsplit

from apps.m3u.models import M3UAccount
from django.db import models
from django.db.models import Q
from django.utils import timezone


class VODLogo(models.Model):
    name = models.CharField(max_length=255)
    url = models.TextField(unique=True)


class VODCategory(models.Model):
    CATEGORY_TYPE_CHOICES = [("movie", "Movie"), ("series", "Series")]

    name = models.CharField(max_length=255)
    category_type = models.CharField(max_length=10, choices=CATEGORY_TYPE_CHOICES, default="movie")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        unique_together = [("name", "category_type")]


class Series(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, null=True)
    year = models.IntegerField(blank=True, null=True)
    rating = models.CharField(max_length=10, blank=True, null=True)
    genre = models.CharField(max_length=255, blank=True, null=True)
    logo = models.ForeignKey(VODLogo, on_delete=models.SET_NULL, null=True, blank=True, related_name="series")
    tmdb_id = models.CharField(max_length=50, blank=True, null=True, unique=True)
    imdb_id = models.CharField(max_length=50, blank=True, null=True, unique=True)
    custom_properties = models.JSONField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "year"],
                condition=Q(tmdb_id__isnull=True) & Q(imdb_id__isnull=True),
                name="unique_series_name_year_no_external_id",
            )
        ]


class Movie(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, null=True)
    year = models.IntegerField(blank=True, null=True)
    rating = models.CharField(max_length=10, blank=True, null=True)
    genre = models.CharField(max_length=255, blank=True, null=True)
    duration_secs = models.IntegerField(blank=True, null=True)
    logo = models.ForeignKey(VODLogo, on_delete=models.SET_NULL, null=True, blank=True, related_name="movie")
    is_adult = models.BooleanField(default=False, db_index=True)
    tmdb_id = models.CharField(max_length=50, blank=True, null=True, unique=True)
    imdb_id = models.CharField(max_length=50, blank=True, null=True, unique=True)
    custom_properties = models.JSONField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "year"],
                condition=Q(tmdb_id__isnull=True) & Q(imdb_id__isnull=True),
                name="unique_movie_name_year_no_external_id",
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
        ordering = ["series__name", "season_number", "episode_number"]
        unique_together = [("series", "season_number", "episode_number")]


def _normalize_server_url(url):
    """Scheme, host and base path: a trailing ``*.php`` segment, the query and fragment go."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    path = parts.path.rstrip("/")
    if path.rsplit("/", 1)[-1].endswith(".php"):
        path = path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _stream_url(account, kind, stream_id, extension):
    if account.account_type != M3UAccount.Types.XC:
        return None
    server = _normalize_server_url(account.server_url)
    if not server:
        return None
    return f"{server}/{kind}/{account.username}/{account.password}/{stream_id}.{extension or 'mp4'}"


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

    def get_stream_url(self):
        return _stream_url(self.m3u_account, "movie", self.stream_id, self.container_extension)


class M3UEpisodeRelation(models.Model):
    m3u_account = models.ForeignKey(M3UAccount, on_delete=models.CASCADE, related_name="episode_relations")
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="m3u_relations")
    series_relation = models.ForeignKey(
        M3USeriesRelation, on_delete=models.CASCADE, related_name="episode_relations", null=True, blank=True
    )
    stream_id = models.CharField(max_length=255)
    container_extension = models.CharField(max_length=10, blank=True, null=True)
    custom_properties = models.JSONField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        unique_together = [("m3u_account", "stream_id")]

    def get_stream_url(self):
        return _stream_url(self.m3u_account, "series", self.stream_id, self.container_extension)


class M3UVODCategoryRelation(models.Model):
    m3u_account = models.ForeignKey(M3UAccount, on_delete=models.CASCADE, related_name="category_relations")
    category = models.ForeignKey(VODCategory, on_delete=models.CASCADE, related_name="m3u_relations")
    enabled = models.BooleanField(default=False)
    custom_properties = models.JSONField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        unique_together = [("m3u_account", "category")]
