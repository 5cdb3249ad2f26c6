import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Import the URLconf (every view, the API routers) while the worker boots, before it accepts a connection:
# otherwise the first request each worker serves pays for it (about a second per gunicorn worker).
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018
