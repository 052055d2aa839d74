"""Runs gnbr's search-index rebuild alone, committed, on the database of the
environment (DATABASE_URL, DJANGO_SETTINGS_MODULE): what a restore runs after
its load, here on a database whose index already holds rows.

    python rebuild_search_index.py HELPER_FOLDER

HELPER_FOLDER holds gnbr_django.py (host/src/geonode). Prints the helper's
events, one JSON line each.
"""

import sys

sys.path.insert(0, sys.argv[1])

import gnbr_django  # noqa: E402

gnbr_django.setup()

from django.db import transaction  # noqa: E402

with transaction.atomic():
    gnbr_django.rebuild_search_index(gnbr_django.reindex_meter())
