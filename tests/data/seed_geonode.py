"""Seeds a migrated GeoNode 5.1 database for gnbr's round-trip tests.

GeoNode's own initial data and test content (`create_models`: users,
datasets, maps, documents, keywords, links, permissions), then content that
is hard to carry: non-ASCII text, quotes, newlines, null optional fields,
explicit object permissions. Run with the GeoNode install's Python and its
environment (DATABASE_URL etc.).
"""

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from geonode.base.populate_test_data import create_models  # noqa: E402
from geonode.documents.models import Document  # noqa: E402

call_command("loaddata", "initial_data", "sample_admin", "default_oauth_apps", verbosity=0)
create_models(integration=False)

User = get_user_model()
zoe = User.objects.create_user(
    "zoë", email="zoe@example.org", password="Ünïcødé pass", first_name="Zoë", last_name="Ångström-Müller"
)
doc = Document.objects.create(
    title='Ünïcødé "quoted" \'title\'\nwith a newline \U0001f30d',
    abstract="Multi-line\nabstract with <b>markup</b> & a tab\tand a backslash \\",
    owner=zoe,
    purpose=None,
    doc_url=None,
    extension="pdf",
)
doc.set_default_permissions(owner=zoe)
print("seeded")
