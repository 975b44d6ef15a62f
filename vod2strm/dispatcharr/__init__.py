"""The Dispatcharr door: the plugin (``plugin.py``), its job processes (``control.py`` starts and
cancels them, ``runner.py`` is their entry point), auto-run after ``m3u_refresh`` (``autorun.py``),
progress pushed to Dispatcharr's UI (``notify.py``) and the bundle builder (``bundle.py``).

Nothing here is imported by the core; docs/dispatcharr.md describes how it all fits.
"""
