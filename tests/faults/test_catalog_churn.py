"""The catalog changing under a run: rows deleted, uuids regenerated, episodes removed mid-way.

Dispatcharr refreshes VOD content with bulk deletes/updates and regenerates uuids, possibly while a
generate streams the catalog. Keyset pagination sees each row at most once; a row gone before its
chunk is simply not seen (cleanup removes its files later); a uuid change alone never rewrites a
file; a series that lost its episodes mid-run is skipped, not half written. The run ends complete
(exit 0) and the next run plus cleanup converges to a clean generate of the final catalog.
"""

from __future__ import annotations

import dataclasses
import re
import uuid

import pytest
from django.db import connection

from tests.faults import helpers
from tests.faults.conftest import check_converges, check_no_damage
from vod2strm.jobs import cleanup, generate
from vod2strm.standalone import models

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

_UUID = re.compile(rb"/proxy/vod/(movie|episode)/[0-9a-f-]{36}\?")


def without_uuids(tree: dict[str, bytes]) -> dict[str, bytes]:
    return {p: _UUID.sub(rb"/proxy/vod/\1/<uuid>?", b) for p, b in tree.items()}


def final_reference(sc) -> dict[str, bytes]:
    return helpers.reference_tree(sc.settings, sc.tmp / "reference-final")


def test_rows_deleted_behind_and_ahead_of_the_cursor(scenario, between_chunks):
    movies = list(models.Movie.objects.order_by("pk").values_list("pk", flat=True))
    deleted = []

    def delete_some(model, n, rows):
        if model is models.Movie and n == 1 and not deleted:
            behind, ahead = movies[1], movies[17]
            models.Movie.objects.filter(pk__in=[behind, ahead]).delete()
            deleted.extend([behind, ahead])
        if model is models.Series and n == 0 and len(deleted) == 2:
            models.Series.objects.filter(name="Show 2").delete()  # a whole series, ahead
            models.Episode.objects.filter(series__name="Show 0").delete()  # behind: already written
            deleted.append("series")

    between_chunks(delete_some)
    # Two of four shows go (over half the series' files): more than the default valve lets
    # cleanup delete without --force.
    scenario.settings = dataclasses.replace(scenario.settings, cleanup_max_share=0.6)
    result = generate.run(scenario.settings)
    assert deleted and result.exit_code == 0, result.as_dict()
    assert result.sections == {"movies": "complete", "series": "complete"}
    after = scenario.fresh()
    assert helpers.library_problems(scenario.root) == []
    assert helpers.manifest_problems(scenario.settings) == []
    assert all(
        after.get(p) in (data, scenario.before.get(p)) for p, data in scenario.wanted.items() if p in after
    )
    scenario.wanted = final_reference(scenario)
    check_converges(scenario)


def test_uuids_regenerated_between_every_chunk(scenario, between_chunks):
    active = [True]

    def new_uuids(model, n, rows):
        if not active:
            return
        for m in (models.Movie, models.Series, models.Episode):
            for pk in m.objects.values_list("pk", flat=True):
                m.objects.filter(pk=pk).update(uuid=uuid.uuid4())

    between_chunks(new_uuids)
    result = generate.run(scenario.settings)
    active.clear()
    assert result.exit_code == 0
    after = scenario.fresh()
    assert helpers.library_problems(scenario.root) == []
    assert helpers.manifest_problems(scenario.settings) == []
    # Items v2 did not change kept their files untouched, old uuids included. (An item rendered
    # for another reason gets the current uuid: see vod2strm/library/strm.py.)
    changed_items = {
        p.rsplit("/", 1)[0] for p in scenario.wanted if scenario.before.get(p) != scenario.wanted[p]
    }
    for rel, data in scenario.before.items():
        if rel.rsplit("/", 1)[0] not in changed_items and "TV Shows/" not in rel:
            assert after[rel] == data, rel
    assert without_uuids(after) == without_uuids({**scenario.before, **scenario.wanted})
    again = generate.run(scenario.settings)
    assert again.written == 0  # a uuid-only change never rewrites a file
    assert cleanup.run(scenario.settings).exit_code == 0
    assert without_uuids(scenario.fresh()) == without_uuids(final_reference(scenario))


def test_all_episodes_of_a_series_deleted_mid_run(scenario):
    """Its series row and relation are read, then its episodes are gone when they are read."""
    show = models.Series.objects.get(name="Show 1")
    done = []

    def delete_first(execute, sql, params, many, context):
        # The first read of episode relations for a chunk of series that holds Show 1.
        reads_show = show.pk in [p for p in params or () if type(p) is int]  # ids, not is_active
        if 'FROM "vod2strm_catalog_m3uepisoderelation"' in sql and reads_show and not done:
            done.append(show.pk)
            models.Episode.objects.filter(series=show).delete()
        return execute(sql, params, many, context)

    # One of four shows goes: a third of the series' files, more than the default valve allows.
    scenario.settings = dataclasses.replace(scenario.settings, cleanup_max_share=0.4)
    with connection.execute_wrapper(delete_first):
        result = generate.run(scenario.settings)
    assert done and result.exit_code == 0 and result.series_without_episodes == 1
    check_no_damage(scenario)
    scenario.wanted = final_reference(scenario)
    assert not any(p.startswith("TV Shows/Show 1 ") for p in scenario.wanted)
    check_converges(scenario)


def test_episodes_deleted_between_their_relations_and_their_rows(scenario):
    """The episode relations are read, then the episodes are gone when their rows are read."""
    victims = list(
        models.Episode.objects.filter(series__name="Show 2", season_number=2).values_list("pk", flat=True)
    )
    fired = []

    def delete_after_relations(execute, sql, params, many, context):
        out = execute(sql, params, many, context)
        if 'FROM "vod2strm_catalog_m3uepisoderelation"' in sql and not fired:
            fired.append(True)
            models.Episode.objects.filter(pk__in=victims).delete()
        return out

    with connection.execute_wrapper(delete_after_relations):
        result = generate.run(scenario.settings)
    assert fired and result.exit_code == 0
    scenario.wanted = final_reference(scenario)  # Show 2's tvshow.nfo lost season 2: new bytes
    check_no_damage(scenario)
    assert not any("Show 2" in p and "Season 02" in p for p in scenario.wanted)
    check_converges(scenario)


def test_a_movie_renamed_and_one_added_mid_run(scenario, between_chunks):
    from tests.factories import M3UMovieRelationFactory, MovieFactory

    done = []

    def churn(model, n, rows):
        if model is models.Movie and n == 0 and not done:
            done.append(n)
            last = models.Movie.objects.order_by("-pk").first()
            models.Movie.objects.filter(pk=last.pk).update(name="Renamed Late")
            account = models.M3UAccount.objects.get(name="Main")
            M3UMovieRelationFactory(movie=MovieFactory(name="Arrived Mid Run"), m3u_account=account)

    between_chunks(churn)
    assert generate.run(scenario.settings).exit_code == 0
    tree = scenario.fresh()
    assert any(p.startswith("Movies/Arrived Mid Run") for p in tree)
    assert any(p.startswith("Movies/Renamed Late") for p in tree)
    scenario.wanted = final_reference(scenario)
    check_converges(scenario)
