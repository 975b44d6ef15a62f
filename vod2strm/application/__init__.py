"""What a run is, between ``jobs/`` and the doors: which jobs a request starts, in what order, the
one exit status and state word they end with, and the sentences that tell a person how it went.

Every door (``manage.py vod2strm``, ``python -m vod2strm``, the Dispatcharr plugin's job process,
the standalone admin) parses its input, calls one command of :mod:`.commands` through
:func:`guarded`, and shows the :class:`Outcome` in its own :class:`Wording`. Nothing here knows a
door; the doors know nothing of each other.

- :mod:`.status`: the precedence of exit statuses and the state words.
- :mod:`.runs`: a generate and the cleanup that follows it.
- :mod:`.commands`: the commands, and errors turned into outcomes.
- :mod:`.wording`: outcomes as sentences.
- :mod:`.notifying`: telling the media servers after a run, and the ``notify`` command.
"""

from vod2strm.application.commands import (
    Outcome,
    bundle,
    cleanup,
    demo,
    failure,
    fetch_episodes,
    generate,
    guarded,
    stats,
)
from vod2strm.application.notifying import notify
from vod2strm.application.runs import GenerateRun, run_generate
from vod2strm.application.status import (
    CANCELLED,
    FAILED,
    FINISHED,
    PRECEDENCE,
    REFUSED,
    settle,
    state_for,
    succeeded,
    worst,
)
from vod2strm.application.wording import (
    Wording,
    cleanup_lines,
    cleanup_sentence,
    fields_sentence,
    generate_sentences,
    kept_sentence,
)

__all__ = [
    "CANCELLED",
    "FAILED",
    "FINISHED",
    "PRECEDENCE",
    "REFUSED",
    "GenerateRun",
    "Outcome",
    "Wording",
    "bundle",
    "cleanup",
    "cleanup_lines",
    "cleanup_sentence",
    "demo",
    "failure",
    "fetch_episodes",
    "fields_sentence",
    "generate",
    "generate_sentences",
    "guarded",
    "kept_sentence",
    "notify",
    "run_generate",
    "settle",
    "state_for",
    "stats",
    "succeeded",
    "worst",
]
