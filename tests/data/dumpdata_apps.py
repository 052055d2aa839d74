"""Django's own `dumpdata` of each app into OUT_DIR/<app>.json, what
GeoNode's own backup runs: the reference gnbr's dump is compared with.
Run with the GeoNode install's Python and its environment.

    python dumpdata_apps.py OUT_DIR app,app,...
"""

import os
import sys

import django

django.setup()

from django.core.management import call_command  # noqa: E402

out_dir, labels = sys.argv[1], sys.argv[2].split(",")
for label in labels:
    call_command("dumpdata", label, output=os.path.join(out_dir, f"{label}.json"), verbosity=0)
