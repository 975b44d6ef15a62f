"""The settings schema: one declaration per setting, strict validation, and one line per refusal.

Each refused value is tried as a new user would give it: through ``settings.VOD2STRM`` and the
command line, which must answer one line on stderr naming the key, exit 2, the JSON error object
under ``--json``, and write nothing to the output root. What only a fresh process shows (errors
while Django's settings import) runs ``manage.py`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core import checks

from tests.dispatcharr_home import harness
from tests.library_helpers import call_cli
from vod2strm import conf
from vod2strm.apps import check_settings
from vod2strm.dispatcharr import bundle, control
from vod2strm.dispatcharr.plugin import Plugin
from vod2strm.errors import ConfigError
from vod2strm.output import lock
from vod2strm.output.marker import MARKER_NAME

REPO = Path(__file__).resolve().parents[1]
STANDALONE = "vod2strm.standalone.settings"


def build(tmp_path: Path, **overrides: Any) -> conf.Settings:
    return conf.build({"output_root": tmp_path / "library", "state_dir": tmp_path / "state", **overrides})


# -- the schema and the places that describe it ------------------------------------------------------------


def test_settings_take_every_default_from_the_schema():
    fields = {f.name: f for f in conf.dataclasses.fields(conf.Settings)}
    assert list(conf.SCHEMA) == [s.name for s in conf.SCHEMA_LIST]
    assert set(fields) == set(conf.SCHEMA)
    for name, spec in conf.SCHEMA.items():
        if spec.home_defaults is None:
            assert fields[name].default == spec.default, name
        else:
            assert set(spec.home_defaults) == set(conf.HOMES), name


def _readme_section(title: str) -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return section.splitlines()


def test_the_readme_configuration_table_is_the_schema():
    lines = _readme_section("Configuration")
    start = lines.index("| key | default | meaning |")
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    expected = conf.readme_table()
    assert table == expected, "README's Configuration table differs from conf.readme_table():\n" + "\n".join(
        expected
    )
    keys = [re.match(r"\| `([a-z_]+)` \|", row)[1] for row in table[2:]]  # type: ignore[index]
    assert keys == list(conf.SCHEMA)


def test_plugin_fields_are_the_settings_the_schema_marks_as_fields():
    field_ids = [f["id"] for f in Plugin.fields]
    marked = [s.name for s in conf.SCHEMA_LIST if s.plugin is not None]
    settings_ids = [i for i in field_ids if i in conf.SCHEMA]
    assert settings_ids == marked  # every marked setting, in schema order, and no other setting
    assert [i for i in field_ids if i not in conf.SCHEMA] == ["about", "auto_run"]
    assert field_ids.index("auto_run") == field_ids.index("autorun_settle_seconds") - 1
    assert {"take_over_foreign_files", "overwrite_edited_files"} <= set(marked)
    by_id = {f["id"]: f for f in Plugin.fields}
    for name in ("take_over_foreign_files", "overwrite_edited_files"):
        assert by_id[name]["type"] == "boolean" and by_id[name]["default"] is False
    assert (by_id["max_workers"]["min"], by_id["max_workers"]["max"]) == (1, 256)
    assert harness.declaration_problems(Plugin.fields, Plugin.actions) == []


def test_the_dispatcharr_doc_lists_the_plugin_fields():
    text = (REPO / "docs" / "dispatcharr.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings (plugin fields)\n", 1)[1].split("\n## ", 1)[0]
    documented = [
        name
        for row in section.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])
    ]
    assert sorted(documented) == sorted(f["id"] for f in Plugin.fields if f["type"] != "info")


def test_the_two_writer_hand_over_settings_are_declared_off():
    settings = build(Path("/tmp/vod2strm-conf"))
    assert settings.take_over_foreign_files is False and settings.overwrite_edited_files is False
    on = build(Path("/tmp/vod2strm-conf"), take_over_foreign_files="true", overwrite_edited_files="1")
    assert on.take_over_foreign_files and on.overwrite_edited_files


# -- unknown keys ------------------------------------------------------------------------------------


def test_an_unknown_key_names_the_closest_known_one(tmp_path):
    with pytest.raises(ConfigError) as info:
        build(tmp_path, max_worker=4)
    assert (info.value.field, info.value.problem) == (
        "max_worker",
        "unknown setting; did you mean max_workers?",
    )
    with pytest.raises(ConfigError, match=r"^Catalog: unknown setting; did you mean CATALOG\?$"):
        build(tmp_path, Catalog="standalone")
    with pytest.raises(ConfigError, match=r"^zzz: unknown setting$"):
        build(tmp_path, zzz=1)


def test_the_environment_loader_refuses_a_misspelt_variable_and_skips_its_own():
    environ = {
        "VOD2STRM_OUTPUT_ROOT": "/srv/lib",
        "VOD2STRM_CATALOG": "standalone",
        "VOD2STRM_BASE_URL": "",
        "VOD2STRM_LOG_LEVEL": "INFO",
        "VOD2STRM_SETTINGS_FILE": "/x.json",
        "VOD2STRM_JOB_LOCK_FD": "7",
        "VOD2STRM_TEST_GATE": "/gate",
        "PATH": "/bin",
    }
    assert conf.from_environment(environ) == {"output_root": "/srv/lib", "CATALOG": "standalone"}
    with pytest.raises(ConfigError) as info:
        conf.from_environment({"VOD2STRM_MAX_WORKER": "4"})
    assert str(info.value) == "VOD2STRM_MAX_WORKER: unknown setting; did you mean VOD2STRM_MAX_WORKERS?"


def test_the_plugin_passes_on_settings_only():
    saved = {"about": "", "auto_run": True, "gone_in_v2": "x", "max_workers": 4, "base_url": None}
    assert Plugin._overrides({"settings": saved}) == {"max_workers": 4}


# -- values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"base_url": "http://192.168.1.10:9191/dispatcharr/"}, "http://192.168.1.10:9191/dispatcharr/"),
        ({"base_url": "https://[::1]:8443"}, "https://[::1]:8443"),
        ({"base_url": " http://media.lan:9191\n"}, "http://media.lan:9191"),
        ({"file_mode": "0640"}, 0o640),
        ({"file_mode": "664"}, 0o664),
        ({"file_mode": 0o666}, 0o666),
        ({"dir_mode": "777"}, 0o777),
        ({"movies_folder": "Filme"}, "Filme"),
        ({"series_folder": "Séries TV"}, "Séries TV"),
        ({"group": str(os.getegid())}, str(os.getegid())),
        ({"group": "root"}, "root"),
        ({"chunk_size": "100000"}, 100_000),
        ({"episodes_max_calls": 0}, 0),
    ],
)
def test_good_values_are_kept(tmp_path, overrides, expected):
    ((key, _),) = overrides.items()
    assert getattr(build(tmp_path, **overrides), key) == expected


def test_a_separate_adult_root_beside_the_library_is_fine(tmp_path):
    settings = build(tmp_path, adult_mode="separate", adult_root=tmp_path / "adult")
    assert settings.roots() == {"main": tmp_path / "library", "adult": tmp_path / "adult"}


#: (key named in the error, VOD2STRM entries) for every value a new user could give that breaks
#: output or safety. ``{tmp}`` in a value is the test's folder.
BAD = [
    ("base_url", {"base_url": "http://media lan:9191"}),
    ("base_url", {"base_url": "http://media.lan:9191/a\tb"}),
    ("base_url", {"base_url": "http://media.lan:9191/\nhttp://evil"}),
    ("base_url", {"base_url": "http://media.lan:9191/#player"}),
    ("base_url", {"base_url": "http://media.lan:9191/?token=1"}),
    ("base_url", {"base_url": "http://media.lan:99999"}),
    ("base_url", {"base_url": "http://media.lan:0"}),
    ("base_url", {"base_url": "http://media.lan:"}),
    ("base_url", {"base_url": "ftp://media.lan"}),
    ("base_url", {"base_url": "http://:9191"}),
    ("file_mode", {"file_mode": "-1"}),
    ("file_mode", {"file_mode": "7777"}),
    ("file_mode", {"file_mode": "4755"}),
    ("file_mode", {"file_mode": "rw-r--r--"}),
    ("dir_mode", {"dir_mode": "1777"}),
    ("file_mode", {"file_mode": -1}),
    ("output_root", {"output_root": "/"}),
    ("output_root", {"output_root": "/tmp/.."}),
    ("state_dir", {"state_dir": "/"}),
    ("adult_root", {"adult_mode": "separate", "adult_root": "/"}),
    ("movies_folder", {"movies_folder": "CON"}),
    ("movies_folder", {"movies_folder": "Movies."}),
    ("movies_folder", {"movies_folder": "M" * 300}),
    ("movies_folder", {"movies_folder": MARKER_NAME}),
    ("series_folder", {"series_folder": "TV/Shows"}),
    ("series_folder", {"series_folder": "movies"}),
    ("chunk_size", {"chunk_size": 10**19}),
    ("chunk_size", {"chunk_size": "0"}),
    ("max_workers", {"max_workers": 257}),
    ("min_workers", {"min_workers": 8, "max_workers": 4}),
    ("cleanup_max_share", {"cleanup_max_share": "nan"}),
    ("episodes_rate", {"episodes_rate": 0}),
    ("write_nfo", {"write_nfo": "maybe"}),
    ("group", {"group": "no-such-group-vod2strm"}),
    ("max_worker", {"max_worker": 4}),
    ("state_dir", {"state_dir": "{tmp}/library/.state"}),
    ("state_dir", {"state_dir": "{tmp}/library"}),
    ("state_dir", {"output_root": "{tmp}/state/library"}),
    ("state_dir", {"adult_mode": "separate", "adult_root": "{tmp}/adult", "state_dir": "{tmp}/adult/s"}),
    ("adult_root", {"adult_mode": "separate", "adult_root": "{tmp}/library/Adult"}),
    ("adult_root", {"adult_mode": "separate", "adult_root": "{tmp}"}),
    ("state_dir", {"state_dir": "{tmp}/a-file"}),
    ("state_dir", {"state_dir": "{tmp}/a-file/state"}),
]


def _configure(settings, tmp_path: Path, entries: dict[str, Any]) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    values = {
        "CATALOG": "standalone",
        "output_root": str(tmp_path / "library"),
        "state_dir": str(tmp_path / "state"),
    }
    for key, value in entries.items():
        values[key] = value.replace("{tmp}", str(tmp_path)) if isinstance(value, str) else value
    settings.VOD2STRM = values


@pytest.mark.parametrize(("key", "entries"), BAD, ids=[f"{k}-{i}" for i, (k, _) in enumerate(BAD)])
def test_a_bad_value_is_one_line_exit_2_and_writes_nothing(settings, tmp_path, key, entries):
    _configure(settings, tmp_path, entries)
    with pytest.raises(ConfigError) as info:
        conf.load()
    assert info.value.field == key

    code, out, err = call_cli("generate", "--json")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vod2strm: {key}: "), err
    assert json.loads(out) == {"error": lines[0].removeprefix("vod2strm: "), "exit": 2}

    code, out, err = call_cli("cleanup")
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "library").exists()
    assert not (tmp_path / "state").exists()


def test_the_plugin_answers_a_bad_value_with_its_field(tmp_path):
    base = {"output_root": str(tmp_path / "lib"), "state_dir": str(tmp_path / "state")}
    for overrides, field in (
        ({"base_url": "http://media.lan:9191/#x"}, "base_url"),
        ({"state_dir": str(tmp_path / "lib" / "state")}, "state_dir"),
        ({"max_workers": 10**19}, "max_workers"),
    ):
        answer = Plugin().run("generate_all", {}, harness.context({**base, **overrides}))
        assert answer["status"] == "error" and answer["message"].startswith(f"{field}: "), answer
        assert answer["data"]["field"] == field
    assert control.running_job(tmp_path / "state") is None
    assert not (tmp_path / "lib").exists()


# -- the state folder ---------------------------------------------------------------------------------


def test_a_state_folder_on_a_read_only_file_system_is_refused(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setattr(conf.os, "access", lambda *args, **kwargs: False)
    monkeypatch.setattr(conf, "_read_only", lambda path: True)
    with pytest.raises(ConfigError) as info:
        conf.check_state_dir(state)
    assert info.value.field == "state_dir" and "read-only file system" in info.value.problem
    with pytest.raises(ConfigError, match=r"cannot create it in .*no write permission"):
        monkeypatch.setattr(conf, "_read_only", lambda path: False)
        conf.check_state_dir(state / "below")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_a_state_folder_without_write_permission_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o500)
    try:
        with pytest.raises(ConfigError, match="no write permission"):
            conf.check_state_dir(state)
    finally:
        state.chmod(0o700)


def test_the_run_lock_turns_an_unusable_state_folder_into_a_config_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError) as info, lock.run_lock(blocker / "state", tmp_path / "library"):
        pass
    assert info.value.field == "state_dir" and "cannot create" in info.value.problem
    with pytest.raises(ConfigError) as info, lock.run_lock(blocker, tmp_path / "library"):
        pass
    assert info.value.field == "state_dir"


# -- bundle --out --------------------------------------------------------------------------------------


def test_bundle_out_pointing_at_a_file_is_a_config_error(tmp_path):
    target = tmp_path / "plugin.zip"
    target.write_text("a file")
    with pytest.raises(ConfigError) as info:
        bundle.build(target)
    assert info.value.field == "--out"
    code, out, err = call_cli("bundle", "--out", str(target), "--json")
    assert code == 2 and err.strip().splitlines() == [f"vod2strm: {info.value}"]
    assert json.loads(out) == {"error": str(info.value), "exit": 2}
    assert target.read_text() == "a file"


# -- the system check ---------------------------------------------------------------------------------


def test_the_system_check_reports_a_bad_setting_with_its_key(settings, tmp_path):
    _configure(settings, tmp_path, {})
    assert check_settings() == []
    _configure(settings, tmp_path, {"max_worker": 4})
    (error,) = checks.run_checks(tags=["vod2strm"])
    assert error.level == checks.ERROR and error.id == "vod2strm.E001"
    assert error.msg == "max_worker: unknown setting; did you mean max_workers?"
    assert "max_worker" in str(error.obj)
    _configure(settings, tmp_path, {"chunk_size": 10**19})
    assert [e.msg.split(":")[0] for e in check_settings()] == ["chunk_size"]


def test_the_system_check_warns_about_an_unusable_state_folder(settings, tmp_path):
    _configure(settings, tmp_path, {"state_dir": "{tmp}/a-file"})
    (warning,) = check_settings()
    assert warning.level == checks.WARNING and warning.id == "vod2strm.W001"
    assert warning.msg.startswith("state_dir: ")


# -- errors while Django's settings import (a fresh process) ------------------------------------------


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VOD2STRM_")},
        "DJANGO_SETTINGS_MODULE": STANDALONE,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VOD2STRM_OUTPUT_ROOT": str(tmp_path / "library"),
        "VOD2STRM_STATE_DIR": str(tmp_path / "state"),
        **env,
    }
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _assert_one_line_and_json(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert json.loads(result.stdout) == {"error": lines[0].removeprefix("vod2strm: "), "exit": 2}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"VOD2STRM_LOG_LEVEL": "garbage"}, "VOD2STRM_LOG_LEVEL: must be one of"),
        ({"DATABASE_URL": "postgres://x:notaport/db"}, "DATABASE_URL is malformed"),
        ({"VOD2STRM_MAX_WORKER": "4"}, "did you mean VOD2STRM_MAX_WORKERS?"),
        ({"VOD2STRM_GROUP": "no-such-group-vod2strm"}, "group: unknown group"),
        ({"VOD2STRM_CHUNK_SIZE": str(10**19)}, "chunk_size: must be between 1 and 100000"),
    ],
    ids=["log-level", "database-url", "misspelt-variable", "group", "chunk-size"],
)
def test_manage_py_reports_errors_found_while_settings_load(tmp_path, env, needle):
    _assert_one_line_and_json(_manage(tmp_path, "vod2strm", "generate", "--json", **env), needle)
    assert not (tmp_path / "library").exists()


@pytest.mark.slow
def test_python_m_vod2strm_reports_a_bad_log_level_as_json(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vod2strm", "stats", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": STANDALONE, "VOD2STRM_LOG_LEVEL": "loud"},
    )  # fmt: skip
    _assert_one_line_and_json(result, "VOD2STRM_LOG_LEVEL")


@pytest.mark.slow
def test_manage_py_check_reports_a_bad_setting(tmp_path):
    result = _manage(tmp_path, "check", VOD2STRM_BASE_URL="http://media.lan:9191/#x")
    assert result.returncode == 1, result.stderr
    assert "(vod2strm.E001) base_url: must not have a query" in result.stderr
    assert "Traceback" not in result.stderr
