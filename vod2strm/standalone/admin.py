"""Admin pages for the standalone catalog: browse what a generate will read, and run vod2strm.

The Movie and Series lists show what a person decides by: the provider(s) and category of each
item and whether they make it eligible, whether it is in the library and in which folder (from the
manifest), a series' episode count, and filters for eligibility and presence in the library. Two
actions (a thin door over the same application commands as the CLI):

- "Generate library files for selected …": ``application.generate`` with the selected ids and
  ``verify=True``, in the request (a selection is small): files deleted by hand come back. The
  banner counts movies, series and episodes apart, names skipped items per reason
  (:mod:`vod2strm.application.selection`), and is a warning when nothing was generated. Runs for
  selected items never count as complete, so cleanup never deletes on their account.
- "Show vod2strm stats": ``application.stats`` as a message. It needs no selection.

The library page (``/admin/vod2strm/``) runs the whole library: generate, cleanup preview and
cleanup (with its safety valve) start a job process as the Dispatcharr plugin's do
(:func:`vod2strm.dispatcharr.control.start`), so they outlive the request; the page shows its
progress from the status file, a cancel button, and the last runs.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, Exists, OuterRef, Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from vod2strm import application
from vod2strm.application import selection
from vod2strm.jobs.progress import format_duration
from vod2strm.standalone import models

admin.site.site_header = "vod2strm administration"
admin.site.site_title = "vod2strm"

STATS_ACTION = "show_vod2strm_stats"
PREFIX = "vod2strm: "

#: Where the admin's summaries point: its library page, or the command line.
WORDING = application.Wording(
    fetch_episodes="run 'manage.py vod2strm fetch-episodes'",
    hand_over="'manage.py vod2strm generate --take-over-foreign-files' (or "
    "--overwrite-edited-files) replaces them.",
    refused_cleanup="'Cleanup preview' on the vod2strm library page lists what it would delete; "
    "'manage.py vod2strm cleanup --force' overrides the valve.",
    paths_listed=20,
    path_per_line=False,
)
#: A message's level by the run's state word.
_LEVELS = {
    application.FINISHED: messages.SUCCESS,
    application.CANCELLED: messages.WARNING,
    application.REFUSED: messages.WARNING,
    application.FAILED: messages.ERROR,
}
#: Library page buttons that start a job process, and the runner's action for each.
JOB_BUTTONS = {
    "generate_all": "Generate the whole library",
    "cleanup_preview": "Cleanup preview",
    "cleanup": "Cleanup",
}


def _settings():
    """The run's settings, or the error that stops them (a ``ConfigError``)."""
    from vod2strm import conf
    from vod2strm.errors import ConfigError

    try:
        return conf.load(), None
    except ConfigError as exc:
        return None, exc


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# -- the lists --------------------------------------------------------------------------------------


class EligibilityFilter(admin.SimpleListFilter):
    """Eligible (a generate writes it) or not, by the rule of ``catalog/queries.py``."""

    title = "eligible"
    parameter_name = "eligible"

    def lookups(self, request, model_admin):
        found = [("yes", "Eligible"), ("no", "Not eligible")]
        if model_admin.vod2strm_section == selection.SERIES:
            found.append(("no_episodes", "Eligible, but no episodes"))
        return found

    def queryset(self, request, queryset):
        if self.value() is None:
            return None
        from vod2strm.catalog import queries

        settings, _error = _settings()
        if settings is None:
            return queryset.none()
        movies = queryset.model is models.Movie
        relation_model = models.M3UMovieRelation if movies else models.M3USeriesRelation
        field = "movie_id" if movies else "series_id"
        eligible = Exists(
            queries.eligible_relations(relation_model, settings).filter(**{field: OuterRef("pk")})
        )
        if movies:
            good = queryset.filter(eligible)
            if settings.adult_mode == "exclude":
                good = good.filter(is_adult=False)
        else:
            has_episodes = Exists(models.Episode.objects.filter(series_id=OuterRef("pk")))
            if self.value() == "no_episodes":
                return queryset.filter(eligible).exclude(has_episodes)
            good = queryset.filter(eligible, has_episodes)
        if self.value() == "yes":
            return good
        return queryset.exclude(pk__in=good.values("pk"))


class InLibraryFilter(admin.SimpleListFilter):
    """In the library (the manifest records the item) or not."""

    title = "in library"
    parameter_name = "in_library"

    def lookups(self, request, model_admin):
        return [("yes", "In the library"), ("no", "Not in the library")]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return None
        settings, _error = _settings()
        if settings is None:
            return queryset.none()
        section = selection.MOVIES if queryset.model is models.Movie else selection.SERIES
        ids = selection.in_library_ids(settings, section)
        return queryset.filter(pk__in=ids) if self.value() == "yes" else queryset.exclude(pk__in=ids)


class LibraryChangeList(ChangeList):
    """A changelist that looks up, once per page, each shown item in the manifest and the
    category rules, and hands the answers to its rows (``obj.vod2strm``)."""

    def get_results(self, request):
        super().get_results(request)
        from vod2strm.catalog import queries

        settings, _error = _settings()
        section = self.model_admin.vod2strm_section  # type: ignore[attr-defined]
        rules = queries.CategoryRules(settings) if settings is not None else None
        try:
            states = selection.library_states(settings, section, self.result_list) if settings else {}
        except Exception as exc:  # an unreadable manifest must not take the list down with it
            states, self.library_error = {}, str(exc)
        for obj in self.result_list:
            relations = []
            for rel in obj.m3u_relations.all():
                ok = bool(
                    rules is not None
                    and rel.m3u_account.is_active
                    and rules.allows(rel.m3u_account_id, rel.category_id, getattr(rel.category, "name", None))
                )
                relations.append((rel, ok))
            obj.vod2strm = {
                "relations": relations,
                "library": states.get(obj.pk),
                "known": settings is not None,
            }


class LibraryActions(admin.ModelAdmin):
    """Columns, filters and actions for a catalog section (``vod2strm_section``)."""

    vod2strm_section = selection.MOVIES
    actions = ["generate_selected", STATS_ACTION]
    list_per_page = 50

    def get_changelist(self, request, **kwargs):
        return LibraryChangeList

    def get_queryset(self, request):
        relation_model = (
            models.M3UMovieRelation if self.vod2strm_section == "movies" else models.M3USeriesRelation
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "m3u_relations",
                    queryset=relation_model.objects.select_related("m3u_account", "category").order_by(
                        "-m3u_account__priority", "pk"
                    ),
                )
            )
        )

    @admin.display(description="id", ordering="pk")
    def item_id(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="provider · category (✔ eligible)")
    def providers(self, obj):
        info = getattr(obj, "vod2strm", None) or {"relations": [], "known": False}
        if not info["relations"]:
            return mark_safe('<span class="v2s-no">no provider</span>')
        return format_html_join(
            mark_safe("<br>"),
            '<span class="{}" title="{}">{} · {} {}</span>',
            (
                (
                    "v2s-yes" if ok else "v2s-no",
                    _why_not(rel, ok),
                    rel.m3u_account.name + ("" if rel.m3u_account.is_active else " (inactive)"),
                    rel.category.name if rel.category is not None else "no category",
                    "✔" if ok else "✘",
                )
                for rel, ok in info["relations"]
            ),
        )

    @admin.display(description="in library")
    def in_library(self, obj):
        info = getattr(obj, "vod2strm", None) or {}
        state = info.get("library")
        if state is None:
            return mark_safe('<span class="v2s-no">no</span>')
        return format_html(
            '<span class="v2s-yes">yes</span> <span class="v2s-folder">{}</span> ({})',
            state.folder,
            _plural(state.nfiles, "file"),
        )

    @admin.action(description="Generate library files for selected %(verbose_name_plural)s")
    def generate_selected(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        level, text = generate_selection(self.vod2strm_section, ids)
        self.message_user(request, PREFIX + text, level)

    @admin.action(description="Show vod2strm stats")
    def show_vod2strm_stats(self, request, queryset):
        level, text = stats_message()
        self.message_user(request, text, level)

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
        extra = {"vod2strm_library_url": reverse("vod2strm_library"), **(extra_context or {})}
        return super().changelist_view(request, extra)


def _why_not(rel, ok: bool) -> str:
    """A relation's eligibility in words, for the column's tooltip."""
    if ok:
        return "eligible"
    if not rel.m3u_account.is_active:
        return "the account is inactive"
    if rel.category is not None:
        return "the category is disabled for this account, or filtered out by the settings"
    return "not eligible"


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


class _RelationInline(admin.TabularInline):
    extra = 0
    raw_id_fields = ("category",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("m3u_account", "category")


class MovieRelationInline(_RelationInline):
    model = models.M3UMovieRelation
    fields = ("m3u_account", "category", "stream_id", "container_extension")


@admin.register(models.Movie)
class MovieAdmin(LibraryActions):
    vod2strm_section = selection.MOVIES
    list_display = ("name", "year", "item_id", "providers", "in_library", "is_adult", "tmdb_id")
    list_filter = (EligibilityFilter, InLibraryFilter, "is_adult", "m3u_relations__m3u_account", "year")
    search_fields = ("name", "tmdb_id", "imdb_id")
    raw_id_fields = ("logo",)
    inlines = [MovieRelationInline]
    ordering = ("name", "year", "pk")


class SeriesRelationInline(_RelationInline):
    model = models.M3USeriesRelation
    fields = ("m3u_account", "category", "external_series_id", "last_episode_refresh")


@admin.register(models.Series)
class SeriesAdmin(LibraryActions):
    vod2strm_section = selection.SERIES
    list_display = ("name", "year", "item_id", "episode_count", "providers", "in_library", "tmdb_id")
    list_filter = (EligibilityFilter, InLibraryFilter, "m3u_relations__m3u_account", "year")
    search_fields = ("name", "tmdb_id", "imdb_id")
    raw_id_fields = ("logo",)
    inlines = [SeriesRelationInline]
    ordering = ("name", "year", "pk")

    def get_queryset(self, request):
        # A subquery, not a join: the relation filter joins the same table of relations.
        episodes = (
            models.Episode.objects.filter(series_id=OuterRef("pk"))
            .order_by()
            .values("series_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        from django.db.models import IntegerField, Subquery
        from django.db.models.functions import Coalesce

        return (
            super()
            .get_queryset(request)
            .annotate(vod2strm_episodes=Coalesce(Subquery(episodes, output_field=IntegerField()), 0))
        )

    @admin.display(description="episodes", ordering="vod2strm_episodes")
    def episode_count(self, obj):
        return obj.vod2strm_episodes


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


# -- generate on a selection -----------------------------------------------------------------------


def generate_selection(section: str, ids: list[int]) -> tuple[int, str]:
    """Generate the selected items of ``section`` (restoring their files missing on disk); the
    banner's level and text (without the prefix)."""
    chosen: dict[str, Any] = {}

    def call() -> application.Outcome:
        from vod2strm import conf

        settings = conf.load()
        chosen["selection"] = found = selection.explain(settings, section, ids)
        chosen["disk"] = selection.check_on_disk(settings, found.keys.values())
        if not found.eligible:  # nothing to write: no run to record
            return application.Outcome("generate", 0, {"exit": 0})
        return application.generate(
            settings,
            movie_ids=found.eligible if section == selection.MOVIES else None,
            series_ids=found.eligible if section == selection.SERIES else None,
            verify=True,
            cleanup=False,
        )

    if not ids:
        return messages.WARNING, "nothing selected"
    outcome = application.guarded("generate", call)
    found = chosen.get("selection")
    if outcome.error or found is None:
        return messages.ERROR, outcome.error or "generate failed"
    noun = ("movie", "movies") if section == selection.MOVIES else ("series", "series")
    of = f"{len(ids)} selected {noun[len(ids) != 1]}"
    skipped = selection.skipped_sentence(found)
    if not found.eligible:
        return messages.WARNING, f"generated none of the {of}. {skipped}".strip()
    episodes = f" ({_plural(found.episodes, 'episode')})" if section == selection.SERIES else ""
    head = f"generated {len(found.eligible)} of the {of}{episodes}: "
    return _generate_banner(head, found, chosen["disk"], outcome, skipped)


def _generate_banner(head, found, disk, outcome, skipped) -> tuple[int, str]:
    from vod2strm.application.notifying import notified_sentences

    data = outcome.data
    written, files = data.get("written", 0), data.get("files", 0)
    restored = min(len(disk.missing), written)
    in_place = data.get("unchanged", 0) - len(disk.changed)
    sentences = [
        f"wrote {written} of {_plural(files, 'file')}"
        + (f" ({restored} restored after going missing on disk)" if restored else "")
        + f", {max(in_place, 0)} already on disk as written, "
        f"{_plural(data.get('errors', 0), 'error')}, in {data.get('seconds', 0):.1f} s."
    ]
    if skipped:
        sentences.append(skipped)
    if disk.changed:
        shown = "; ".join(disk.changed[:3]) + (
            f" (+{len(disk.changed) - 3} more)" if len(disk.changed) > 3 else ""
        )
        it, is_ = ("it", "it is") if len(disk.changed) == 1 else ("them", "they are")
        sentences.append(
            f"{_plural(len(disk.changed), 'file')} changed on disk since vod2strm wrote {it}, kept as {is_}: "
            f"{shown}. Delete {it} and generate again to restore vod2strm's version."
        )
    for extra in (application.fields_sentence(data), application.kept_sentence(data)):
        if extra:
            sentences.append(extra)
    if data.get("kept_foreign") or data.get("kept_edited"):
        sentences.append(WORDING.hand_over)
    if data.get("error"):
        sentences.append(f"Error: {data['error']}")
    sentences += notified_sentences(data.get("notified") or {})
    level = _LEVELS[outcome.state]
    if level == messages.SUCCESS and (disk.changed or data.get("kept_foreign") or data.get("kept_edited")):
        level = messages.WARNING
    return level, head + " ".join(sentences)


# -- stats ------------------------------------------------------------------------------------------


def stats_message(*, scan: bool = False) -> tuple[int, str]:
    """The stats report as a preformatted message (the manifest's counts said as such)."""
    from vod2strm import conf

    outcome = application.guarded("stats", lambda: application.stats(conf.load(), scan=scan))
    if outcome.error:
        return messages.ERROR, PREFIX + outcome.error
    lines = []
    for line in outcome.lines(WORDING):
        if line.startswith("Library: "):
            line = "Library, as the manifest records it (not checked on disk): " + line.removeprefix(
                "Library: "
            )
        lines.append(line)
    if not scan:
        lines.append("'Check the disk' on the vod2strm library page counts the files that are really there.")
    return messages.INFO, format_html("<pre>{}</pre>", "\n".join(lines))


# -- the library page -------------------------------------------------------------------------------


def _control():
    from vod2strm.dispatcharr import control

    return control


def library_view(request: HttpRequest) -> HttpResponse:
    """Whole-library actions, the running job's progress and the last runs."""
    settings, error = _settings()
    if request.method == "POST" and settings is not None:
        _library_action(request, settings, request.POST.get("do", ""))
        return HttpResponseRedirect(reverse("vod2strm_library"))
    context = {
        **admin.site.each_context(request),
        "title": "vod2strm library",
        "settings_error": str(error) if error else "",
        "buttons": JOB_BUTTONS,
    }
    if settings is not None:
        context.update(library_status(settings))
    return render(request, "admin/vod2strm/library.html", context)


def library_status_view(request: HttpRequest) -> JsonResponse:
    """The library page's status as JSON (what the page shows, for scripts and polling)."""
    settings, error = _settings()
    if settings is None:
        return JsonResponse({"error": str(error)}, status=500)
    found = library_status(settings)
    found.pop("runs_table", None)
    return JsonResponse(found, json_dumps_params={"default": str})


def library_status(settings) -> dict[str, Any]:
    """The running job, the status file as progress lines, and the last runs."""
    from vod2strm.jobs.progress import read_status

    control = _control()
    job = control.running_job(settings.state_dir)
    status = read_status(settings.state_dir) or {}
    if job and status.get("pid") != job.get("pid"):  # the job has not written its status yet
        status = {"state": "starting", "job": job.get("action"), "phase": "starting"}
    now = time.time()
    sections = []
    for name, sec in (status.get("sections") or {}).items():
        total, done = sec.get("total") or 0, sec.get("done") or 0
        share = f" ({100 * done / total:.0f}%)" if total else ""
        rate = sec.get("rate") or 0
        eta = sec.get("eta_seconds")
        sections.append(
            {
                "name": name,
                "done": done,
                "total": total,
                "percent": round(100 * done / total) if total else 0,
                "text": f"{name}: {done} of {total}{share}, {sec.get('status', '')}"
                + (f", {rate:,.0f} items/s" if rate else "")
                + (
                    f", about {format_duration(eta)} left"
                    if eta is not None and sec.get("status") == "running"
                    else ""
                ),
            }
        )
    try:
        runs = selection.recent_runs(settings, 10)
    except Exception as exc:  # a damaged manifest: say so, keep the page
        runs = [{"error": str(exc)}]
    for run in runs:
        if run.get("started"):
            run["started_text"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started"]))
            run["took"] = f"{run['finished'] - run['started']:.1f} s" if run.get("finished") else "unfinished"
    return {
        "running": bool(job),
        "job": job or {},
        "job_text": control.describe_job(job) if job else "",
        "status": status,
        "status_age": round(now - status["updated"]) if status.get("updated") else None,
        "sections": sections,
        "runs": runs,
        "history": list(reversed(control.read_history(settings.state_dir, limit=5))),
    }


def _library_action(request: HttpRequest, settings, action: str) -> None:
    control = _control()
    if action in JOB_BUTTONS:
        from django.conf import settings as django_settings

        overrides = {
            k: v for k, v in (getattr(django_settings, "VOD2STRM", None) or {}).items() if k != "CATALOG"
        }
        try:
            with control.control_lock(settings.state_dir):
                job = control.start(settings.state_dir, action, settings_overrides=overrides, trigger="admin")
        except control.AlreadyRunning as exc:
            messages.warning(request, f"{PREFIX}a job is already running ({exc}); cancel it or wait for it.")
            return
        except Exception as exc:
            messages.error(request, f"{PREFIX}could not start {JOB_BUTTONS[action].lower()}: {exc}")
            return
        messages.info(
            request,
            f"{PREFIX}{JOB_BUTTONS[action]} started in the background (pid {job['pid']}); "
            "its progress is below.",
        )
    elif action == "cancel":
        job = control.running_job(settings.state_dir)
        if not job:
            messages.warning(request, f"{PREFIX}no job is running; nothing to cancel.")
        elif control.signal_job(job):
            messages.info(
                request,
                f"{PREFIX}asked {control.describe_job(job)} to stop; it stops at its next safe point.",
            )
        else:
            messages.warning(request, f"{PREFIX}the job {control.describe_job(job)} is already gone.")
    elif action in ("stats", "scan"):
        level, text = stats_message(scan=action == "scan")
        messages.add_message(request, level, text)
    else:
        messages.error(request, f"{PREFIX}unknown action {action!r}")
