"""Admin pages for the standalone catalog: browse and search what a generate will read.

On the Movie and Series lists, two actions (a thin door over the same core as the CLI):

- "Generate library files for selected …": ``application.generate`` with the selected ids, in the
  request (a selection is small; whole-catalog runs belong to ``manage.py vod2strm generate``).
  Runs for selected items never count as complete, so cleanup never deletes on their account.
- "Show vod2strm stats": ``application.stats`` as a message. It needs no selection.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from vod2strm import application
from vod2strm.standalone import models

STATS_ACTION = "show_vod2strm_stats"

#: Where the admin's summaries point: the command line, which runs the whole catalog.
WORDING = application.Wording(
    fetch_episodes="run 'manage.py vod2strm fetch-episodes'",
    hand_over="'manage.py vod2strm generate --take-over-foreign-files' (or "
    "--overwrite-edited-files) replaces them.",
    refused_cleanup="'manage.py vod2strm cleanup --dry-run' lists what it would delete.",
)
#: A message's level by the run's state word.
_LEVELS = {
    application.FINISHED: messages.SUCCESS,
    application.CANCELLED: messages.WARNING,
    application.REFUSED: messages.WARNING,
    application.FAILED: messages.ERROR,
}


class LibraryActions(admin.ModelAdmin):
    """Admin actions for a catalog section (``vod2strm_section`` = "movies" or "series")."""

    vod2strm_section = "movies"
    actions = ["generate_selected", STATS_ACTION]

    @admin.action(description="Generate library files for selected %(verbose_name_plural)s")
    def generate_selected(self, request, queryset):
        from vod2strm import application, conf

        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        movies = self.vod2strm_section == "movies"
        outcome = application.guarded(
            "generate",
            lambda: application.generate(
                conf.load(),
                movie_ids=ids if movies else None,
                series_ids=None if movies else ids,
                cleanup=False,
            ),
        )
        if outcome.error:
            self.message_user(request, f"vod2strm: {outcome.error}", messages.ERROR)
            return
        noun = self.model._meta.verbose_name if len(ids) == 1 else self.model._meta.verbose_name_plural
        text = " ".join(outcome.lines(WORDING))
        if outcome.data.get("items", 0) < len(ids):
            text += (
                " Selected items that are not eligible (no active account, or a disabled category)"
                " are skipped."
            )
        self.message_user(request, f"vod2strm: {len(ids)} selected {noun}: {text}", _LEVELS[outcome.state])

    @admin.action(description="Show vod2strm stats")
    def show_vod2strm_stats(self, request, queryset):
        from vod2strm import application, conf

        outcome = application.guarded("stats", lambda: application.stats(conf.load()))
        if outcome.error:
            self.message_user(request, f"vod2strm: {outcome.error}", messages.ERROR)
            return
        text = "\n".join(outcome.lines(WORDING))
        self.message_user(request, format_html("<pre>{}</pre>", text), messages.INFO)

    def changelist_view(self, request, extra_context=None):
        # The stats are about the whole library: let the action run without a selection.
        if (
            request.method == "POST"
            and request.POST.get("action") == STATS_ACTION
            and not request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
            and STATS_ACTION in self.get_actions(request)
        ):
            self.show_vod2strm_stats(request, self.get_queryset(request).none())
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)


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
class MovieAdmin(LibraryActions):
    vod2strm_section = "movies"
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
class SeriesAdmin(LibraryActions):
    vod2strm_section = "series"
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
