from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve
from django.urls import path, re_path

from vod2strm.standalone.admin import library_status_view, library_view

urlpatterns = [
    # The library page: whole-library runs, their progress and the last runs (standalone/admin.py).
    path("admin/vod2strm/", admin.site.admin_view(library_view), name="vod2strm_library"),
    path("admin/vod2strm/status.json", admin.site.admin_view(library_status_view), name="vod2strm_status"),
    path("admin/", admin.site.urls),
]
if not getattr(settings, "WHITENOISE", True):
    # No WhiteNoise installed: Django's own static view, also without DEBUG (settings.py).
    urlpatterns.append(re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}))
