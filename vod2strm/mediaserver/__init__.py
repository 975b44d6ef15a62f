"""Telling media servers what a run changed: Jellyfin, Emby (HTTP API) and Kodi (JSON-RPC).

- :mod:`.pathmap`: vod2strm's view of a library path to a server's view of it.
- :mod:`.http`: one POST with a timeout, retries with back-off and a total deadline, credentials
  in headers only and never in a message.
- :mod:`.servers`: what each server is sent for a set of changed folders.

The job that reads the change log and moves the servers' cursors is :mod:`vod2strm.jobs.notify`.
"""
