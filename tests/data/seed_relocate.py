"""Adds to a seeded GeoNode 5.1 database what holds its own address and
folders, for gnbr's restore-onto-another-host test: the Site, thumbnails,
links, map blobs, the GeoServer OAuth2 application's redirect URIs, and a
document with an asset file under ASSETS_ROOT. Run with the GeoNode
install's Python and its environment (SITEURL, MEDIA_ROOT, ASSETS_ROOT).
"""

import os
import tempfile

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.sites.models import Site  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

from geonode.assets.utils import create_asset_and_link  # noqa: E402
from geonode.base.models import Link, ResourceBase  # noqa: E402
from geonode.documents.models import Document  # noqa: E402
from geonode.maps.models import Map  # noqa: E402

site = settings.SITEURL.rstrip("/")
host = site.split("://", 1)[1]
Site.objects.filter(pk=settings.SITE_ID).update(domain=host, name=host)
Application.objects.update(redirect_uris=f"{site}/geoserver/index.html")
for resource in ResourceBase.objects.all():
    ResourceBase.objects.filter(pk=resource.pk).update(
        thumbnail_url=f"{site}/uploaded/thumbs/resource-{resource.pk}.png",
        csw_anytext=f"{resource.title} {site}/catalogue/#/resource/{resource.pk}",
    )
    Link.objects.create(
        resource=resource,
        extension="html",
        link_type="html",
        name="Page",
        mime="text/html",
        url=f"{site}/catalogue/#/resource/{resource.pk}",
    )
for geomap in Map.objects.all():
    Map.objects.filter(pk=geomap.pk).update(
        blob={
            "map": {
                "layers": [{"type": "wms", "url": f"{site}/geoserver/ows"}],
                "sources": {f"{site}/geoserver/ows": {}},
            },
            "thumbnail": f"{site}/uploaded/thumbs/map-{geomap.pk}.png",
        }
    )
os.makedirs(os.path.join(settings.MEDIA_ROOT, "thumbs"), exist_ok=True)
with open(os.path.join(settings.MEDIA_ROOT, "thumbs", "resource-1.png"), "wb") as f:
    f.write(b"\x89PNG\r\n")
owner = get_user_model().objects.get(username="admin")
document = Document.objects.create(title="Relocated document", owner=owner, extension="pdf")
source = os.path.join(tempfile.mkdtemp(), "report.pdf")
with open(source, "wb") as f:
    f.write(b"%PDF-1.4 relocated\n")
create_asset_and_link(document, owner, [source])
print("seeded")
