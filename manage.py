#!/usr/bin/env python
"""Standalone home: Django's command-line utility, pointed at vod2strm's own settings."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vod2strm.standalone.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Settings errors are configuration errors: one line, exit 2 (DESIGN.md section 10).
        print(f"vod2strm: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
