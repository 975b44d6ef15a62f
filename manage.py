#!/usr/bin/env python
"""Standalone home: Django's command-line utility, pointed at vod2strm's own settings."""

import json
import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["vod2strm"]:
        # Before Django starts: a Ctrl-C or SIGTERM while settings load ends with one line and
        # status 130 too. Only for vod2strm's command: runserver and shell keep Django's own.
        from vod2strm import interrupt

        interrupt.install(json_output="--json" in sys.argv[2:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vod2strm.standalone.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Settings errors are configuration errors: one line, exit 2 (docs/cli.md), and
        # with --json the one JSON object the command would have printed.
        message = f"configuration error: {exc}"
        print(f"vod2strm: {message}", file=sys.stderr)
        if "--json" in sys.argv[1:]:
            print(json.dumps({"error": message, "exit": 2}))
        sys.exit(2)


if __name__ == "__main__":
    main()
