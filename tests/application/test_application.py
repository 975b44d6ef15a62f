"""One outcome for a run of several jobs (``vod2strm.application``): the exit status rule, the state
word, when a cleanup follows its generate, and a refused cleanup that no door may report as success."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.library_helpers import make_settings, small_catalog
from vod2strm import application
from vod2strm.errors import LockedError, RefusedError, Vod2strmError
from vod2strm.jobs import cleanup as cleanup_job
from vod2strm.jobs import generate as generate_job

#: The documented precedence, worst first, written out again here rather than read from the module.
ORDER = [130, 1, 2, 3, 5, 4, 0]
STATES = {0: "finished", 4: "finished", 130: "cancelled", 5: "refused", 1: "failed", 2: "failed", 3: "failed"}


# -- the rule ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("worse", "better"), list(itertools.combinations(ORDER, 2)))
def test_the_worse_of_two_statuses_wins_in_either_order(worse: int, better: int) -> None:
    assert application.worst((worse, better)) == worse
    assert application.worst((better, worse)) == worse


@pytest.mark.parametrize("code", ORDER)
def test_a_status_combined_with_itself_or_with_success_is_itself(code: int) -> None:
    assert application.worst((code,)) == code
    assert application.worst((code, code)) == code
    assert application.worst((0, code, 0)) == code


def test_the_precedence_is_the_documented_one_and_covers_every_status() -> None:
    assert list(application.PRECEDENCE) == ORDER
    assert application.worst(()) == 0
    assert application.worst(ORDER) == 130
    assert application.worst(reversed(ORDER)) == 130


def test_an_unknown_status_ranks_with_failed() -> None:
    assert application.worst((42, 5)) == 42
    assert application.worst((130, 42)) == 130
    assert application.state_for(42) == "failed"


@pytest.mark.parametrize(("code", "state"), sorted(STATES.items()))
def test_the_state_word_of_every_status(code: int, state: str) -> None:
    assert application.state_for(code) == state
    assert application.succeeded(code) is (state == "finished")


@pytest.mark.parametrize("code", ORDER)
def test_a_set_cancel_event_makes_any_outcome_but_none_worse_interrupted(code: int) -> None:
    cancel = threading.Event()
    assert application.settle(code, cancel) == code
    assert application.settle(code, None) == code
    cancel.set()
    assert application.settle(code, cancel) == 130


# -- the run: every combination of what its jobs can end with ---------------------------------------------


@dataclass
class FakeGenerate:
    exit_code: int

    def as_dict(self) -> dict[str, Any]:
        return {"written": 1, "sections": {"movies": "complete"}, "exit": self.exit_code}


@dataclass
class FakeCleanup:
    exit_code: int
    removed: int = 3
    message: str = ""
    refused: bool = field(init=False)

    def __post_init__(self) -> None:
        self.refused = self.exit_code == 5

    def as_dict(self) -> dict[str, Any]:
        return {
            "removed": self.removed,
            "refused": self.refused,
            "message": self.message,
            "kept": 0,
            "errors": int(self.exit_code == 4),
            "exit": self.exit_code,
        }


#: What the cleanup job can do: end with a result (its status), or raise before deleting.
CLEANUP_ENDINGS: dict[str, Any] = {
    "ok": 0,
    "item errors": 4,
    "valve refused": 5,
    "interrupted": 130,
    "locked": LockedError("another run holds the lock"),
    "unmarked root": RefusedError("output root is not marked"),
    "root vanished": Vod2strmError("output root vanished during cleanup"),
}

CASES = list(
    itertools.product(
        [0, 1, 4, 130],  # the generate's status
        [False, True],  # dry run
        [False, True],  # cleanup asked for
        sorted(CLEANUP_ENDINGS),
        [False, True],  # the run is asked to stop between the generate and the cleanup
    )
)


@pytest.mark.parametrize(("generated", "dry_run", "asked", "ending", "stop_between"), CASES)
def test_every_combination_of_generate_and_cleanup_outcomes(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    generated: int,
    dry_run: bool,
    asked: bool,
    ending: str,
    stop_between: bool,
) -> None:
    ran: list[str] = []

    def fake_generate(settings: Any, *, cancel: threading.Event, **kwargs: Any) -> FakeGenerate:
        if generated == 130 or stop_between:
            cancel.set()
        return FakeGenerate(generated)

    def fake_cleanup(settings: Any, *, cancel: threading.Event) -> FakeCleanup:
        ran.append("cleanup")
        outcome = CLEANUP_ENDINGS[ending]
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == 130:
            cancel.set()
        return FakeCleanup(outcome, message="movies: would delete 9 of 10 files")

    monkeypatch.setattr(generate_job, "run", fake_generate)
    monkeypatch.setattr(cleanup_job, "run", fake_cleanup)
    run = application.run_generate(make_settings(tmp_path), dry_run=dry_run, cleanup=asked)
    data = run.as_dict()

    should_run = asked and not dry_run and generated == 0 and not stop_between
    assert ran == (["cleanup"] if should_run else [])
    cleanup_code = CLEANUP_ENDINGS[ending]
    if isinstance(cleanup_code, Vod2strmError):
        cleanup_code = cleanup_code.exit_code
    codes = [generated]
    if should_run:
        codes.append(cleanup_code)
    if generated == 130 or stop_between or (should_run and cleanup_code == 130):
        codes.append(130)
    expected = min(codes, key=ORDER.index)
    assert run.exit_code == data["exit"] == expected
    assert run.state == STATES[expected]

    sentence = application.cleanup_sentence(data)
    if not asked:
        assert "cleanup" not in data and sentence == ""
    elif not should_run:
        assert set(data["cleanup"]) == {"skipped"} and sentence.startswith("Cleanup skipped: ")
    elif isinstance(CLEANUP_ENDINGS[ending], Vod2strmError):
        assert data["cleanup"] == {"error": str(CLEANUP_ENDINGS[ending]), "exit": cleanup_code}
        assert sentence == f"Cleanup stopped: {CLEANUP_ENDINGS[ending]}"
    elif cleanup_code == 5:
        assert data["cleanup"]["refused"] and data["removed"] == 3
        assert sentence.endswith("Cleanup refused: movies: would delete 9 of 10 files")
    else:
        assert data["removed"] == 3 and sentence.startswith("Cleanup removed 3 orphaned files")


@pytest.mark.parametrize(
    ("message", "removed", "sentence"),
    [
        ("movies: would delete 9 of 10 files", 0, "Cleanup refused: movies: would delete 9 of 10 files"),
        ("cleanup refused for movies: empty", 0, "Cleanup refused for movies: empty"),
        (
            "cleanup refused for movies: empty",
            4,
            "Cleanup removed 4 orphaned files. Cleanup refused for movies: empty",
        ),
        ("", 0, "Cleanup refused: refused by its safety valve"),
    ],
)
def test_a_refusal_is_said_once_with_what_the_other_sections_removed(message, removed, sentence) -> None:
    data = {"cleanup": {"refused": True, "message": message, "removed": removed, "exit": 5}}
    assert application.cleanup_sentence(data) == sentence


def test_a_refused_cleanup_after_a_clean_generate_makes_the_run_refused(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(generate_job, "run", lambda settings, **kw: FakeGenerate(0))
    monkeypatch.setattr(cleanup_job, "run", lambda settings, **kw: FakeCleanup(5, message="series: too many"))
    run = application.run_generate(make_settings(tmp_path), cleanup=True)
    assert (run.exit_code, run.state, run.generate.exit_code) == (5, "refused", 0)
    assert run.as_dict()["cleanup"]["message"] == "series: too many"


# -- the real jobs -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cleanup_refused_by_the_valve_is_named_in_the_runs_outcome(tmp_path) -> None:
    _account, movies, _series = small_catalog(movies=6, series=1, episodes=2)
    settings = make_settings(tmp_path, cleanup_max_share=0.0, writer_process=False)
    first = application.run_generate(settings, cleanup=True)
    assert first.exit_code == 0 and first.cleanup.removed == 0  # nothing to remove yet: no refusal
    for movie in movies[:3]:
        movie.delete()
    run = application.run_generate(settings, cleanup=True)
    data = run.as_dict()
    assert (run.generate.exit_code, run.exit_code, run.state, data["exit"]) == (0, 5, "refused", 5)
    assert data["cleanup"]["refused"] and data["cleanup"]["exit"] == 5
    message = run.cleanup.message
    assert "movies" in message and message[1:] in application.cleanup_sentence(data)
    assert application.cleanup_sentence(data).startswith("Cleanup refused")
    assert sum(1 for p in settings.output_root.rglob("*.strm")) == 6 + 2  # nothing was deleted


def test_the_summary_sentences_for_kept_files_and_dropped_fields() -> None:
    from vod2strm import application

    assert application.kept_sentence({}) == "" and application.fields_sentence({}) == ""
    data = {"kept_foreign": 2, "foreign": ["a.strm", "b.nfo"], "kept_edited": 1, "edited": ["c.nfo"]}
    assert application.kept_sentence(data) == (
        "Kept 2 files vod2strm did not write and 1 file changed since vod2strm wrote them where its own "
        "would go, as they are: a.strm; b.nfo; c.nfo."
    )
    assert application.kept_sentence({**data, "kept_foreign": 5}).endswith("(+3 more).")
    assert application.fields_sentence({"fields_dropped": 1}).startswith("1 NFO value held characters")


def test_every_door_words_a_generate_from_the_same_sentences() -> None:
    """The CLI and the plugin show the same summary; only where it points differs."""
    from vod2strm import application
    from vod2strm.dispatcharr.runner import WORDING as PLUGIN
    from vod2strm.management.commands.vod2strm import WORDING as CLI

    def _generate_text(data: dict) -> str:
        return "\n".join(application.generate_sentences(data, CLI))

    def generate_message(data: dict) -> str:
        return " ".join(application.generate_sentences(data, PLUGIN))

    data = {
        "written": 3, "files": 5, "items": 2, "unchanged": 2, "errors": 0, "seconds": 1.25, "queries": 4,
        "sections": {"movies": "complete"}, "series_without_episodes": 1, "kept_foreign": 1,
        "foreign": ["Movies/A/A.strm"], "exit": 5,
        "cleanup": {"refused": True, "message": "cleanup refused for movies: x"},
    }  # fmt: skip
    cli, plugin = _generate_text(data).split("\n"), generate_message(data)
    assert cli[0] == "Wrote 3 of 5 files for 2 items (2 unchanged, 0 errors) in 1.2 s, 4 queries."
    assert plugin.startswith(cli[0] + " Sections: movies complete ")
    assert "Cleanup refused for movies: x" in cli and "Cleanup refused for movies: x" in plugin
    assert cli[-1].endswith("vod2strm cleanup --force.") and "--force" not in plugin
    assert plugin.endswith("Run Cleanup preview to see what it would delete.")
    assert "(use Fetch episodes)" in plugin and "(run 'vod2strm fetch-episodes')" in _generate_text(data)
    plain = application.Wording("f", "h", "r")
    assert len(application.generate_sentences(data, plain)) == len(cli)
