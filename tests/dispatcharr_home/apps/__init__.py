"""Test-only mirror of Dispatcharr's ``apps`` package: just ``apps.m3u`` and ``apps.vod``."""
