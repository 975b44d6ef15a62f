"""The standalone home: a Dispatcharr-compatible catalog app, its admin, demo data and settings."""
