"""A run's outcome in sentences for people, the same for every door but for the pointers.

Each door shows the same sentences; only what they point at differs (a command-line flag, a plugin
button), and that is the door's :class:`Wording`. The JSON a door prints is the outcome's data,
untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vod2strm.errors import EXIT_INTERRUPTED


@dataclass(frozen=True)
class Wording:
    """How a door names the actions a summary points at: a command-line flag or a plugin button.

    Why: the sentences are the same for every door, and only these pointers differ; a plugin
    user has no ``--force`` to type.
    """

    fetch_episodes: str  # how to ask for the episodes of series that have none
    hand_over: str  # how to replace kept files with ours
    refused_cleanup: str  # how to see, and to force, what a refused cleanup would delete
    paths_listed: int | None = None  # paths a cleanup report names (None: all it has)
    path_per_line: bool = True  # a listed path is a line of its own (else one sentence names them)


def generate_sentences(data: dict[str, Any], wording: Wording) -> list[str]:
    """A generate run's summary (``GenerateRun.as_dict``) as sentences for people, in the order
    every door shows them (the CLI one a line, the plugin one paragraph)."""
    verb = "Dry run: would write" if data.get("dry_run") else "Wrote"
    sentences = [
        f"{verb} {data.get('written', 0)} of {data.get('files', 0)} files for {data.get('items', 0)} items "
        f"({data.get('unchanged', 0)} unchanged, {data.get('errors', 0)} errors) "
        f"in {data.get('seconds', 0):.1f} s, {data.get('queries', 0)} queries."
    ]
    sections = data.get("sections") or {}
    if sections:
        sentences.append("Sections: " + ", ".join(f"{k} {v}" for k, v in sections.items()))
    if data.get("adopted"):
        sentences.append(f"Adopted {data['adopted']} existing identical files without rewriting them.")
    moved = data.get("removed", 0) - ((data.get("cleanup") or {}).get("removed") or 0)
    if moved > 0:  # the old files of titles that moved to new names (jobs/generate.py, _moved)
        removed = "Would remove at most" if data.get("dry_run") else "Removed"
        sentences.append(f"{removed} {moved} old files of titles that moved to new names.")
    for extra in (fields_sentence(data), kept_sentence(data)):
        if extra:
            sentences.append(extra)
    if data.get("kept_foreign") or data.get("kept_edited"):
        sentences.append(f"They are listed by stats; {wording.hand_over}")
    if data.get("series_without_episodes"):
        sentences.append(
            f"{data['series_without_episodes']} series have no episodes yet and were skipped "
            f"({wording.fetch_episodes})."
        )
    if data.get("error"):
        sentences.append(f"Error: {data['error']}")
    cleaned = cleanup_sentence(data)
    if cleaned:
        sentences.append(cleaned)
    if (data.get("cleanup") or {}).get("refused"):
        sentences.append(wording.refused_cleanup)
    if data.get("exit") == EXIT_INTERRUPTED:
        sentences.append("Interrupted: the next run continues where this one stopped.")
    return sentences


def kept_sentence(data: dict[str, Any], listed: int = 3) -> str:
    """Files a generate left alone because they are not vod2strm's ("" when none), naming a few.

    Worded for every door: which switch hands them over is the door's to add (a flag, a field).
    """
    foreign, edited = data.get("kept_foreign", 0), data.get("kept_edited", 0)
    if not foreign and not edited:
        return ""
    parts = []
    if foreign:
        parts.append(f"{foreign} file{'s' * (foreign != 1)} vod2strm did not write")
    if edited:
        parts.append(f"{edited} file{'s' * (edited != 1)} changed since vod2strm wrote them")
    named = [*data.get("foreign", [])[:listed], *data.get("edited", [])[:listed]][:listed]
    more = foreign + edited - len(named)
    example = "; ".join(named) + (f" (+{more} more)" if more > 0 else "")
    return f"Kept {' and '.join(parts)} where its own would go, as they are: {example}."


def fields_sentence(data: dict[str, Any]) -> str:
    """NFO values a generate cleaned or left out because XML cannot carry them ("" when none)."""
    dropped = data.get("fields_dropped", 0)
    if not dropped:
        return ""
    return (
        f"{dropped} NFO value{'s' * (dropped != 1)} held characters XML cannot carry and "
        f"{'were' if dropped != 1 else 'was'} cleaned or left out of {'their' if dropped != 1 else 'its'} "
        "file (the log names each file); every item was written."
    )


def cleanup_sentence(data: dict[str, Any]) -> str:
    """What the cleanup of a run did, in one sentence for people ("" when none was asked for)."""
    cleaned = data.get("cleanup")
    if not cleaned:
        return ""
    if cleaned.get("skipped"):
        return f"Cleanup skipped: {cleaned['skipped']}."
    if "refused" not in cleaned:  # it stopped with an error
        return f"Cleanup stopped: {cleaned.get('error')}"
    if cleaned["refused"]:
        # The valve's message names the refused sections and why, and may say "cleanup refused"
        # itself; the other sections were cleaned as usual.
        message = str(cleaned.get("message") or "refused by its safety valve")
        if message.lower().startswith("cleanup refused"):
            refusal = message[0].upper() + message[1:]
        else:
            refusal = f"Cleanup refused: {message}"
        removed = cleaned.get("removed", 0)
        return f"Cleanup removed {removed} orphaned files. {refusal}" if removed else refusal
    text = f"Cleanup removed {cleaned.get('removed', 0)} orphaned files"
    if cleaned.get("kept"):
        text += f", kept {cleaned['kept']} that are not vod2strm's to delete"
    if cleaned.get("errors"):
        text += f", {cleaned['errors']} errors"
    if cleaned.get("exit") == EXIT_INTERRUPTED:
        text += " before it was interrupted"
    return text + "."


def cleanup_lines(data: dict[str, Any], wording: Wording) -> list[str]:
    """A cleanup's own report (``CleanupResult.as_dict``): what a preview would delete, what went,
    what was kept and why, and each section that was not cleaned."""
    refused = bool(data.get("refused"))
    refusal = [f"Cleanup refused: {data.get('message')}"] if refused else []
    body = _preview_lines(data, wording, refusal) if data.get("dry_run") else refusal + _removal_lines(data)
    kept = [f"kept (changed since vod2strm wrote it): {path}" for path in data.get("changed") or []]
    kept += [f"kept (not written by vod2strm): {path}" for path in data.get("foreign") or []]
    sections = data.get("sections") or {}
    not_cleaned = [f"{name}: {status}" for name, status in sections.items() if status != "cleaned"]
    tail = [wording.refused_cleanup] if refused else []
    if data.get("exit") == EXIT_INTERRUPTED:
        tail.append("Interrupted: the next cleanup continues where this one stopped.")
    return body + kept + not_cleaned + tail


def _preview_lines(data: dict[str, Any], wording: Wording, refusal: list[str]) -> list[str]:
    paths = list(data.get("paths") or [])
    shown = paths if wording.paths_listed is None else paths[: wording.paths_listed]
    more = [f"(+{len(paths) - len(shown)} more)"] if len(paths) > len(shown) else []
    summary = f"Dry run: would remove {data.get('would_remove', 0)} files; nothing was deleted."
    if wording.path_per_line:
        return [*shown, *more, *refusal, summary]
    named = ["Would remove: " + " ".join(["; ".join(shown), *more]) + "."] if shown else []
    return [*refusal, summary, *named]


def _removal_lines(data: dict[str, Any]) -> list[str]:
    if data.get("refused") and not (data.get("removed") or data.get("folders_removed")):
        return []
    lines = [
        f"Removed {data.get('removed', 0)} files and {data.get('folders_removed', 0)} empty folders; "
        f"kept {data.get('kept', 0)} that are not vod2strm's to delete, {data.get('errors', 0)} errors."
    ]
    if data.get("message") and not data.get("refused"):  # a refusal said its message already
        lines.append(str(data["message"]))
    return lines
