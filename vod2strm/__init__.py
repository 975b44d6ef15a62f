"""vod2strm: a Dispatcharr VOD catalog as a Jellyfin/Emby/Kodi library of .strm and .nfo files."""

__version__ = "0.1.0"
