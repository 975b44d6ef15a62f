"""The stats-only report: catalog counts, what the manifest says we wrote, recent runs, and an
optional streaming scan of the output folder.

Catalog counts use a fixed set of aggregate queries (independent of catalog size and of the number
of accounts). The scan merges two sorted streams — the manifest in path order and a directory walk
in the same byte order — so it needs memory for one folder listing, not for the whole library.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db.models import Count, Exists, OuterRef

from vod2strm.catalog import queries, resolver
from vod2strm.conf import Settings
from vod2strm.jobs.progress import read_status
from vod2strm.output import lock, marker
from vod2strm.output.atomic import is_temp_name
from vod2strm.output.fs import LocalFS
from vod2strm.output.manifest import Manifest, manifest_path
from vod2strm.output.marker import MARKER_NAME


def catalog_counts(settings: Settings) -> dict[str, Any]:
    """Eligible movies, series, episodes and series without episodes, per account and in total."""
    m = resolver.models()
    movie_rels = queries.eligible_relations(m.M3UMovieRelation, settings)
    if settings.adult_mode == "exclude":
        movie_rels = movie_rels.filter(movie__is_adult=False)
    series_rels = queries.eligible_relations(m.M3USeriesRelation, settings)
    has_episode = m.Episode.objects.filter(series_id=OuterRef("series_id"))
    eligible_series = series_rels.filter(series_id=OuterRef("episode__series_id"))
    episode_rels = m.M3UEpisodeRelation.objects.filter(m3u_account__is_active=True).filter(
        Exists(eligible_series)
    )

    accounts: dict[int, dict[str, Any]] = {}

    def per_account(qs, field: str, counted: str) -> None:
        for row in qs.values("m3u_account_id", "m3u_account__name").annotate(n=Count(counted, distinct=True)):
            entry = accounts.setdefault(
                row["m3u_account_id"],
                {"name": row["m3u_account__name"], "movies": 0, "series": 0, "episodes": 0,
                 "series_without_episodes": 0},
            )  # fmt: skip
            entry[field] = row["n"]

    per_account(movie_rels, "movies", "movie_id")
    per_account(series_rels, "series", "series_id")
    per_account(episode_rels, "episodes", "episode_id")
    per_account(series_rels.filter(~Exists(has_episode)), "series_without_episodes", "series_id")

    movies = m.Movie.objects.filter(Exists(movie_rels.filter(movie_id=OuterRef("pk")))).count()
    series = m.Series.objects.filter(Exists(series_rels.filter(series_id=OuterRef("pk"))))
    series_total = series.count()
    empty = series.filter(~Exists(m.Episode.objects.filter(series_id=OuterRef("pk")))).count()
    episodes = m.Episode.objects.filter(
        Exists(series_rels.filter(series_id=OuterRef("series_id"))),
        Exists(m.M3UEpisodeRelation.objects.filter(episode_id=OuterRef("pk"), m3u_account__is_active=True)),
    ).count()
    return {
        "total": {
            "movies": movies,
            "series": series_total,
            "episodes": episodes,
            "series_without_episodes": empty,
        },
        "accounts": [{"id": k, **v} for k, v in sorted(accounts.items())],
    }


def collect(settings: Settings, *, scan: bool = False, fs: LocalFS | None = None) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (keys documented in docs/stats.md).

    ``fs``: the filesystem boundary for the share (fault tests swap it).
    """
    fs = fs or LocalFS()
    report: dict[str, Any] = {"catalog": catalog_counts(settings)}
    path = manifest_path(settings.state_dir, settings.output_root)
    owner_id = None
    if path.exists():
        manifest = Manifest.open(settings.state_dir, settings.output_root)
        try:
            owner_id = manifest.owner_id(create=False)
            kinds = manifest.file_summary()
            report["output"] = {
                "files": sum(v["files"] for v in kinds.values()),
                "bytes": sum(v["bytes"] for v in kinds.values()),
                "by_kind": kinds,
                "kept": manifest.count_kept_files(),
                "kept_files": [
                    {"root": root, "path": rel, "reason": reason}
                    for root, rel, reason in manifest.iter_kept_files()
                ],
            }
            report["runs"] = manifest.recent_runs(5)
            if scan:
                report["scan"] = scan_output(settings, manifest, fs)
        finally:
            manifest.close()
    else:
        report["output"] = {"files": 0, "bytes": 0, "by_kind": {}, "kept": {}, "kept_files": []}
        report["runs"] = []
        if scan:
            report["scan"] = _scan_counts()
    report["ownership"] = marker.ownership(settings.roots(), owner_id, path, fs)
    report["status"] = read_status(settings.state_dir)
    report["running"] = lock.is_locked(settings.state_dir, settings.output_root)
    return report


def _scan_counts() -> dict[str, int]:
    return {"ours": 0, "not_ours": 0, "missing": 0, "changed": 0, "unreadable": 0, "unknown": 0}


def scan_output(settings: Settings, manifest: Manifest, fs: LocalFS | None = None) -> dict[str, int]:
    """Merge-join the manifest (sorted) with a sorted walk of each root.

    ``changed`` compares sizes (one stat per file): hashing every file of a NAS library would
    read it all; cleanup does the exact check on the few files it deletes. A folder that cannot be
    listed (``EIO``, ``EACCES``, a dead mount) is counted ``unreadable``, and the manifest's files
    under it ``unknown`` (neither present nor missing: nobody could look).
    """
    fs = fs or LocalFS()
    counts = _scan_counts()
    sizes = manifest.iter_files_with_size()
    for root_name, root in settings.roots().items():
        on_disk = _walk_sorted(fs, root, counts)
        ours = ((p, size) for r, p, size in sizes if r == root_name)
        disk_item = next(on_disk, None)
        for path, size in ours:
            while disk_item is not None and _key(disk_item[0]) < _key(path):
                if disk_item[1] is None:  # an unreadable folder
                    if path.startswith(disk_item[0]):
                        break
                else:
                    counts["not_ours"] += 1
                disk_item = next(on_disk, None)
            if disk_item is not None and disk_item[1] is None and path.startswith(disk_item[0]):
                counts["unknown"] += 1
            elif disk_item is not None and disk_item[0] == path:
                counts["ours"] += 1
                if size and disk_item[1] != size and disk_item[1] != _SIZE_UNKNOWN:
                    counts["changed"] += 1
                disk_item = next(on_disk, None)
            else:
                counts["missing"] += 1
        while disk_item is not None:
            if disk_item[1] is not None:
                counts["not_ours"] += 1
            disk_item = next(on_disk, None)
        sizes = manifest.iter_files_with_size()
    return counts


def _key(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


#: The size of a file whose ``stat`` failed (it is there; whether it changed is not known).
_SIZE_UNKNOWN = -1


def _walk_sorted(
    fs: LocalFS, root: Path, counts: dict[str, int], prefix: str = ""
) -> Iterator[tuple[str, int | None]]:
    """Regular files under ``root`` as ``(relative path, size)`` in UTF-8 byte order of the path.

    Folders sort as ``name + "/"`` so the order matches a plain sort of whole paths. Symlinks are
    neither followed nor counted; our marker and temp files are skipped. A folder that is gone
    yields nothing; one that cannot be listed yields ``(prefix, None)`` in its place (``prefix``
    ends with "/", or is "" for the root) and counts in ``counts["unreadable"]``.
    """
    try:
        entries = list(fs.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError:
        counts["unreadable"] += 1
        yield prefix, None
        return
    keyed = []
    for entry in entries:
        if entry.is_symlink:
            continue
        keyed.append((_key(entry.name + ("/" if entry.is_dir else "")), entry))
    keyed.sort(key=lambda k: k[0])
    for _, entry in keyed:
        rel = prefix + entry.name
        if entry.is_dir:
            yield from _walk_sorted(fs, entry.path, counts, rel + "/")
        elif entry.is_file:
            if (not prefix and entry.name == MARKER_NAME) or is_temp_name(entry.name):
                continue
            try:
                size = fs.stat(entry.path, follow_symlinks=False).st_size
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed since the listing
            except OSError:
                size = _SIZE_UNKNOWN
            yield rel, size


def as_text(report: dict[str, Any]) -> str:
    total = report["catalog"]["total"]
    lines = [
        "Catalog (eligible):",
        f"  {total['movies']} movies, {total['series']} series ({total['series_without_episodes']} without "
        f"episodes), {total['episodes']} episodes",
    ]
    for account in report["catalog"]["accounts"]:
        lines.append(
            f"  {account['name']}: {account['movies']} movies, {account['series']} series, "
            f"{account['episodes']} episodes"
        )
    out = report["output"]
    lines.append(f"Library: {out['files']} files, {out['bytes'] / 1e6:.1f} MB")
    for kind, value in sorted(out["by_kind"].items()):
        lines.append(f"  {kind}: {value['files']}")
    if out.get("kept_files"):
        lines.append(
            f"Kept {len(out['kept_files'])} files at vod2strm's paths that are not its to write over "
            "or delete:"
        )
        why = {"foreign": "not written by vod2strm", "edited": "changed since vod2strm wrote it"}
        for entry in out["kept_files"]:
            where = "" if entry["root"] == "main" else f"{entry['root']}:"
            lines.append(f"  {where}{entry['path']} ({why.get(entry['reason'], entry['reason'])})")
    if report.get("scan"):
        scan = report["scan"]
        lines.append(
            f"On disk: {scan['ours']} ours, {scan['not_ours']} not ours, {scan['missing']} missing, "
            f"{scan['changed']} changed"
        )
        if scan.get("unreadable"):
            lines.append(
                f"  {scan['unreadable']} folder(s) could not be read: {scan['unknown']} of our files "
                "there are neither counted present nor missing"
            )
    if report["runs"]:
        lines.append("Recent runs:")
        for run in report["runs"]:
            summary = run["summary"]
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["started"]))
            took = f"{run['finished'] - run['started']:.0f} s" if run["finished"] else "unfinished"
            lines.append(
                f"  #{run['id']} {run['kind']} {when} ({took}): written {summary.get('written', 0)}, "
                f"unchanged {summary.get('unchanged', 0)}, removed {summary.get('removed', 0)}, "
                f"errors {summary.get('errors', 0)}; "
                + ", ".join(f"{k} {v}" for k, v in run["sections"].items())
            )
    for entry in report.get("ownership", {}).values():
        if entry["status"] == "other":
            owner = entry["owner_state"] or "(unrecorded)"
            lines.append(
                f"Output root {entry['root']} belongs to the state folder {owner}, not to this one: "
                "generate and cleanup with this state are refused."
            )
        elif entry["status"] == "unreadable":
            lines.append(f"Output root {entry['root']}: {entry['error']}")
    if report.get("running"):
        lines.append("A run is in progress.")
    return "\n".join(lines)
