"""Settings of bench/_bare_app.py: Fabflow's (same database options), a bare URLconf."""

from fabflow.settings import *  # noqa: F403

ROOT_URLCONF = "_bare_app"
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
