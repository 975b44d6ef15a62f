"""Test-only support for the Dispatcharr door.

- ``apps/`` mirrors Dispatcharr's ``apps.vod`` and ``apps.m3u`` models (labels ``vod``, ``m3u``) so
  the core can be tested in its Dispatcharr home (``tests/settings_dispatcharr.py`` puts this folder
  on ``sys.path`` and installs them);
- ``check_home.py`` holds the tests that run in that home (collected only by the subprocess that
  ``tests/dispatcharr/test_dispatcharr_home.py`` starts, with ``-o python_files=check_*.py``);
- ``catalog_data.py`` builds the same catalog in either home, for tree comparisons;
- ``harness.py`` helps tests drive the plugin and its job processes.
"""
