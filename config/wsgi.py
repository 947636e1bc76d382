"""WSGI entry point for gunicorn."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

if settings.WARM_UP:
    import gc

    from operations.ops import warm_up

    warm_up()
    # What is loaded now lives as long as the process: keep it out of the garbage collector's scans (shorter
    # pauses) and, under gunicorn's preload, out of the pages each forked worker would otherwise copy.
    gc.freeze()
