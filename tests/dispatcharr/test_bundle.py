"""The plugin bundle: layout, manifest, zip, and an import the way Dispatcharr's loader does it in
an interpreter that has only Dispatcharr's dependencies (Django, psycopg, lxml, filelock)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.dispatcharr_home import harness
from vod2strm.dispatcharr import bundle
from vod2strm.dispatcharr.plugin import Plugin
from vod2strm.errors import ConfigError

#: What Dispatcharr's environment provides that vod2strm may use (plus Django's own dependencies).
DISPATCHARR_DEPENDENCIES = ("django", "asgiref", "sqlparse", "psycopg", "psycopg_binary", "lxml", "filelock")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    folder, archive = bundle.build(out)
    return out, folder, archive


def test_layout_is_the_package_itself_with_plugin_files_on_top(built):
    out, folder, archive = built
    assert folder == out / "vod2strm" and archive == out / "vod2strm.zip"
    for rel in ("plugin.py", "plugin.json", "__init__.py", "__main__.py", "conf.py", "jobs/generate.py",
                "catalog/resolver.py", "output/writer.py", "dispatcharr/runner.py",
                "management/commands/vod2strm.py"):  # fmt: skip
        assert (folder / rel).is_file(), rel
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*")}
    assert not (folder / "vod2strm").exists()  # a nested package would shadow itself
    assert not any(n.startswith("standalone") or "__pycache__" in n or n.endswith(".pyc") for n in names)


def test_manifest_mirrors_the_plugin_class_and_passes_dispatcharrs_rules(built):
    _, folder, _ = built
    manifest = json.loads((folder / "plugin.json").read_text())
    assert set(manifest) == {"name", "version", "description", "author", "fields", "actions"}
    assert manifest["name"] == Plugin.name and manifest["version"] == Plugin.version
    assert manifest["fields"] == json.loads(json.dumps(Plugin.fields))
    assert manifest["actions"] == json.loads(json.dumps(Plugin.actions))
    assert all(isinstance(manifest[k], str) for k in ("name", "version", "description", "author"))
    assert harness.declaration_problems(manifest["fields"], manifest["actions"]) == []


def test_zip_holds_the_folder_under_its_name_and_is_deterministic(built, tmp_path):
    _, folder, archive = built
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert names == [f"vod2strm/{f}" for f in files]
        assert len(names) < bundle.MAX_FILES
        assert zf.read("vod2strm/plugin.json") == (folder / "plugin.json").read_bytes()
    _, again = bundle.build(tmp_path)
    assert again.read_bytes() == archive.read_bytes()


def test_rebuild_replaces_the_previous_folder(tmp_path):
    folder, _ = bundle.build(tmp_path)
    (folder / "stale.py").write_text("old")
    folder, _ = bundle.build(tmp_path)
    assert not (folder / "stale.py").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".vod2strm-bundle-")]


def test_a_bundle_rebuilds_from_itself_and_never_overwrites_its_source(built, tmp_path, monkeypatch):
    _, folder, _ = built
    copy = tmp_path / "plugins" / "vod2strm"
    shutil.copytree(folder, copy)
    monkeypatch.setattr(bundle, "source_dir", lambda: copy)
    with pytest.raises(ConfigError, match="would overwrite"):
        bundle.build(copy.parent)
    assert (copy / "plugin.py").is_file()
    rebuilt, _ = bundle.build(tmp_path / "out")
    assert sorted(p.relative_to(rebuilt) for p in rebuilt.rglob("*")) == sorted(
        p.relative_to(folder) for p in folder.rglob("*")
    )


def test_cli_bundle_command(tmp_path):
    from django.core.management import call_command

    from vod2strm.management.commands.vod2strm import Command

    out = io.StringIO()
    call_command(Command(), "bundle", "--out", str(tmp_path), "--json", stdout=out)
    assert json.loads(out.getvalue()) == {
        "folder": str(tmp_path / "vod2strm"),
        "zip": str(tmp_path / "vod2strm.zip"),
    }


# -- importing it as Dispatcharr does, with Dispatcharr's dependencies only ---------------------------

LOADER_SCRIPT = r"""
import importlib.util, json, os, sys, types

plugins_dir, state_dir = sys.argv[1], sys.argv[2]

import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
    VOD2STRM={"CATALOG": "dispatcharr", "state_dir": state_dir},
)
django.setup()

# Dispatcharr's loader: plugins dir appended to sys.path; a synthetic package per plugin folder,
# aliased under the folder's name; plugin.py loaded as its submodule; Plugin() without arguments.
sys.path.append(plugins_dir)
folder = os.path.join(plugins_dir, "vod2strm")
pkg = types.ModuleType("_dispatcharr_plugin_vod2strm")
pkg.__path__ = [folder]
pkg.__package__ = pkg.__name__
sys.modules[pkg.__name__] = pkg
sys.modules["vod2strm"] = pkg
spec = importlib.util.spec_from_file_location(pkg.__name__ + ".plugin", os.path.join(folder, "plugin.py"))
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
sys.modules["vod2strm.plugin"] = module
plugin = module.Plugin()

import logging
context = {"settings": {"output_root": "relative/path"}, "logger": logging.getLogger("x"), "actions": {}}
bad = plugin.run("generate_all", {}, context)
context["settings"] = {"output_root": "/srv/library", "state_dir": state_dir}
status = plugin.run("status", {}, context)

# Every module of the bundle imports (nothing needs more than Dispatcharr has).
imported = []
for root, dirs, files in os.walk(folder):
    dirs.sort()
    for name in sorted(files):
        if not name.endswith(".py") or name == "plugin.py":
            continue
        rel = os.path.relpath(os.path.join(root, name), folder)[:-3].replace(os.sep, ".")
        modname = "vod2strm" if rel == "__init__" else "vod2strm." + rel.removesuffix(".__init__")
        importlib.import_module(modname)
        imported.append(modname)

outside = sorted(
    name for name, mod in list(sys.modules.items())
    if name.split(".")[0] == "vod2strm" and getattr(mod, "__file__", None)
    and not os.path.realpath(mod.__file__).startswith(os.path.realpath(folder))
)
print(json.dumps({
    "name": plugin.name, "version": plugin.version,
    "actions": [a["id"] for a in plugin.actions], "fields": [f["id"] for f in plugin.fields],
    "bad": bad, "status": status, "imported": imported, "outside": outside,
    "tqdm": "tqdm" in sys.modules, "sys_path": sys.path,
}))
"""


def _dependency_dir(target: Path) -> Path:
    """A folder with symlinks to just Dispatcharr's dependencies from this venv."""
    target.mkdir()
    for name in DISPATCHARR_DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        location = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
        (target / location.name).symlink_to(location)
        libs = location.with_name(location.name + ".libs")  # manylinux wheels' bundled libraries
        if libs.is_dir():
            (target / libs.name).symlink_to(libs)
    return target


def _restricted(
    args: list[str], deps: Path, *, cwd: Path, extra_path: list[Path] = ()
) -> subprocess.CompletedProcess:
    """Run Python without site-packages (``-S``): only the stdlib, ``deps`` and ``extra_path``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(deps), *map(str, extra_path)]),
        "PYTHONNOUSERSITE": "1",
    }
    return subprocess.run(
        [sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_bundle_imports_like_dispatcharr_with_only_its_dependencies(built, tmp_path):
    _, folder, _ = built
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copytree(folder, plugins / "vod2strm")
    deps = _dependency_dir(tmp_path / "deps")
    script = tmp_path / "load.py"
    script.write_text(LOADER_SCRIPT)
    out = _restricted([str(script), str(plugins), str(tmp_path / "state")], deps, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["name"] == "vod2strm" and result["version"] == Plugin.version
    assert result["actions"] == [a["id"] for a in Plugin.actions]
    assert result["fields"] == [f["id"] for f in Plugin.fields]
    assert result["bad"]["status"] == "error" and result["bad"]["message"].startswith("output_root: ")
    assert result["status"] == {
        "status": "ok",
        "message": "Idle. No run yet: press Generate.",
        "data": {"running": False, "job": None, "progress": None, "autorun": {"pending": 0, "events": []},
                 "history": []},
    }  # fmt: skip
    assert (
        "vod2strm.jobs.generate" in result["imported"] and "vod2strm.dispatcharr.runner" in result["imported"]
    )
    assert "vod2strm.management.commands.vod2strm" in result["imported"]
    assert result["outside"] == []  # nothing came from the checkout or an installed vod2strm
    assert not result["tqdm"]
    assert not any("site-packages" in p for p in result["sys_path"])


def test_the_bundle_cli_runs_with_only_dispatcharrs_dependencies(built, tmp_path):
    """``python -m vod2strm`` from the plugins folder, no tqdm: help, and a JSON error exit."""
    _, folder, _ = built
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copytree(folder, plugins / "vod2strm")
    deps = _dependency_dir(tmp_path / "deps")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "mini_settings.py").write_text(
        textwrap.dedent(
            """
            SECRET_KEY = "x"
            INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
            DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
            USE_TZ = True
            VOD2STRM = {"CATALOG": "dispatcharr"}
            """
        )
    )
    args = ["-m", "vod2strm", "--settings", "mini_settings"]
    extra = [plugins, tmp_path / "proj"]
    help_out = _restricted([*args, "--help"], deps, cwd=tmp_path, extra_path=extra)
    assert help_out.returncode == 0, help_out.stderr
    assert "usage: python -m vod2strm" in help_out.stdout
    stats = _restricted([*args, "stats", "--json"], deps, cwd=tmp_path, extra_path=extra)
    assert stats.returncode == 2, stats.stderr
    answer = json.loads(stats.stdout)
    assert answer["exit"] == 2
    assert answer["error"].startswith("CATALOG: the dispatcharr catalog is not installed")


def test_dependency_list_matches_the_projects(built):
    """Keep DISPATCHARR_DEPENDENCIES honest: the runtime dependencies of pyproject.toml."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    names = {
        d.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for d in project["dependencies"]
    }
    assert names == {"django", "psycopg", "lxml", "filelock"}
