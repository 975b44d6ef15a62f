"""Admin pages for the standalone catalog: browse and search what a generate will read."""

from django.contrib import admin

from vod2strm.standalone import models


@admin.register(models.M3UAccount)
class M3UAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "account_type", "is_active", "priority", "server_url")
    list_filter = ("account_type", "is_active")
    search_fields = ("name", "server_url")


@admin.register(models.VODCategory)
class VODCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "category_type")
    list_filter = ("category_type",)
    search_fields = ("name",)


@admin.register(models.M3UVODCategoryRelation)
class M3UVODCategoryRelationAdmin(admin.ModelAdmin):
    list_display = ("category", "m3u_account", "enabled")
    list_filter = ("enabled", "m3u_account", "category__category_type")
    search_fields = ("category__name",)
    list_select_related = ("category", "m3u_account")


@admin.register(models.VODLogo)
class VODLogoAdmin(admin.ModelAdmin):
    list_display = ("name", "url")
    search_fields = ("name", "url")


class MovieRelationInline(admin.TabularInline):
    model = models.M3UMovieRelation
    extra = 0
    raw_id_fields = ("category",)
    fields = ("m3u_account", "category", "stream_id", "container_extension")


@admin.register(models.Movie)
class MovieAdmin(admin.ModelAdmin):
    list_display = ("name", "year", "tmdb_id", "imdb_id", "is_adult")
    list_filter = ("is_adult", "m3u_relations__m3u_account", "year")
    search_fields = ("name", "tmdb_id", "imdb_id")
    raw_id_fields = ("logo",)
    inlines = [MovieRelationInline]
    ordering = ("pk",)


class SeriesRelationInline(admin.TabularInline):
    model = models.M3USeriesRelation
    extra = 0
    raw_id_fields = ("category",)
    fields = ("m3u_account", "category", "external_series_id", "last_episode_refresh")


@admin.register(models.Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ("name", "year", "tmdb_id", "imdb_id")
    list_filter = ("m3u_relations__m3u_account", "year")
    search_fields = ("name", "tmdb_id", "imdb_id")
    raw_id_fields = ("logo",)
    inlines = [SeriesRelationInline]
    ordering = ("pk",)


@admin.register(models.Episode)
class EpisodeAdmin(admin.ModelAdmin):
    list_display = ("name", "series", "season_number", "episode_number", "air_date")
    list_filter = ("season_number",)
    search_fields = ("name", "series__name")
    raw_id_fields = ("series",)
    list_select_related = ("series",)
    ordering = ("pk",)


@admin.register(models.M3UMovieRelation)
class M3UMovieRelationAdmin(admin.ModelAdmin):
    list_display = ("movie", "m3u_account", "category", "stream_id")
    list_filter = ("m3u_account",)
    search_fields = ("movie__name", "stream_id")
    raw_id_fields = ("movie", "category")
    list_select_related = ("movie", "m3u_account", "category")


@admin.register(models.M3USeriesRelation)
class M3USeriesRelationAdmin(admin.ModelAdmin):
    list_display = ("series", "m3u_account", "category", "external_series_id", "last_episode_refresh")
    list_filter = ("m3u_account",)
    search_fields = ("series__name", "external_series_id")
    raw_id_fields = ("series", "category")
    list_select_related = ("series", "m3u_account", "category")


@admin.register(models.M3UEpisodeRelation)
class M3UEpisodeRelationAdmin(admin.ModelAdmin):
    list_display = ("episode", "m3u_account", "stream_id")
    list_filter = ("m3u_account",)
    search_fields = ("episode__name", "stream_id")
    raw_id_fields = ("episode", "series_relation")
    list_select_related = ("episode", "m3u_account")
