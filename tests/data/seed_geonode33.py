"""Seeds a migrated GeoNode 3.3 database for gnbr's 3.x -> 4.x/5.x tests.

GeoNode's own initial data and test content (`create_models`: users, layers,
maps, documents with files, keywords, permissions), made as a real 3.3 site
holds it: unique layer names (4.1's `layers.0044` constraint refuses the
duplicates `create_models` leaves), detail URLs and thumbnails, styles and
attributes, map layers and MapStore map configurations, an external document,
non-ASCII text, a SHA1 password and explicit object permissions. Run with the
GeoNode 3.3.3 install's Python and its environment (DATABASE_URL,
MEDIA_ROOT...).
"""

import hashlib
import json
import os

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from guardian.shortcuts import assign_perm  # noqa: E402

from geonode.base.models import Link, ResourceBase  # noqa: E402
from geonode.base.populate_test_data import create_models  # noqa: E402
from geonode.documents.models import Document  # noqa: E402
from geonode.layers.models import Attribute, Layer, Style  # noqa: E402
from geonode.maps.models import Map, MapLayer  # noqa: E402
from geonode.utils import DisableDjangoSignals  # noqa: E402
from mapstore2_adapter.api.models import MapStoreData, MapStoreResource  # noqa: E402

SITEURL = settings.SITEURL.rstrip("/")
# A 1x1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)

call_command("loaddata", "initial_data", "sample_admin", "default_oauth_apps", verbosity=0)
create_models(integration=False)

User = get_user_model()

with DisableDjangoSignals():
    # Unique (store, workspace, name), as GeoNode 4.1 requires.
    seen = set()
    for layer in Layer.objects.order_by("pk"):
        key = (layer.store, layer.workspace, layer.name)
        if key in seen:
            layer.name = f"{layer.name}_{layer.pk}"
            layer.alternate = f"{layer.workspace or 'geonode'}:{layer.name}"
            Layer.objects.filter(pk=layer.pk).update(name=layer.name, alternate=layer.alternate)
        seen.add((layer.store, layer.workspace, layer.name))

    # Styles and attributes, as an upload leaves them.
    for layer in Layer.objects.order_by("pk")[:4]:
        style = Style.objects.create(
            name=f"{layer.name}_style",
            workspace="geonode",
            sld_title=f"Style of {layer.title}",
            sld_body='<?xml version="1.0"?><StyledLayerDescriptor version="1.0.0"/>',
            sld_url=f"{SITEURL}/geoserver/rest/workspaces/geonode/styles/{layer.name}_style.sld",
        )
        Layer.objects.filter(pk=layer.pk).update(default_style=style)
        layer.styles.add(style)
        for order, (name, kind) in enumerate([("the_geom", "gml:PointPropertyType"), ("nämé", "xsd:string")]):
            Attribute.objects.create(
                layer=layer,
                attribute=name,
                attribute_label=name.title(),
                attribute_type=kind,
                display_order=order + 1,
                visible=True,
            )

    # Detail URLs and thumbnails, as GeoNode 3.3's post-save signal writes them.
    thumbs = os.path.join(settings.MEDIA_ROOT, "thumbs")
    os.makedirs(thumbs, exist_ok=True)
    for resource in ResourceBase.objects.order_by("pk"):
        real = resource.get_real_instance()
        name = f"{resource.resource_type}-{resource.uuid}-thumb.png"
        with open(os.path.join(thumbs, name), "wb") as png:
            png.write(PNG)
        thumb = f"{SITEURL}{settings.MEDIA_URL}thumbs/{name}"
        ResourceBase.objects.filter(pk=resource.pk).update(
            detail_url=real.get_absolute_url(), thumbnail_url=thumb
        )
        Link.objects.create(
            resource=resource,
            extension="png",
            link_type="image",
            name="Thumbnail",
            mime="image/png",
            url=thumb,
        )

    # Map layers (a background, two local layers) and MapStore's configuration of each map.
    layers = list(Layer.objects.order_by("pk"))
    for n, gn_map in enumerate(Map.objects.order_by("pk")):
        MapLayer.objects.create(
            map=gn_map,
            stack_order=0,
            format="image/png",
            name="mapnik",
            opacity=1.0,
            transparent=False,
            fixed=True,
            group="background",
            visibility=True,
            layer_params=json.dumps({"title": "OpenStreetMap", "args": ["OpenStreetMap"]}),
            source_params=json.dumps({"ptype": "gxp_osmsource"}),
            local=False,
        )
        for order, layer in enumerate(layers[n % len(layers) :][:2], start=1):
            MapLayer.objects.create(
                map=gn_map,
                stack_order=order,
                format="image/png",
                name=layer.alternate,
                store=layer.store,
                opacity=0.75,
                styles=layer.default_style.name if layer.default_style else "",
                transparent=True,
                fixed=False,
                visibility=order == 1,
                ows_url=f"{SITEURL}/geoserver/ows",
                layer_params=json.dumps({"title": layer.title, "selected": order == 1}),
                source_params=json.dumps({"ptype": "gxp_wmscsource", "url": f"{SITEURL}/geoserver/ows"}),
                local=True,
            )
        resource = MapStoreResource.objects.create(id=gn_map.pk, name=gn_map.title, user=gn_map.owner)
        blob = {
            "version": 2,
            "map": {
                "center": {"x": gn_map.center_x, "y": gn_map.center_y, "crs": "EPSG:4326"},
                "zoom": gn_map.zoom,
                "projection": "EPSG:3857",
                "layers": [
                    {"type": "osm", "group": "background", "name": "mapnik", "visibility": True},
                ]
                + [
                    {
                        "type": "wms",
                        "name": layer.alternate,
                        "title": layer.title,
                        "url": f"{SITEURL}/geoserver/ows",
                        "visibility": True,
                    }
                    for layer in layers[n % len(layers) :][:2]
                ],
            },
        }
        data = MapStoreData.objects.create(blob=blob, resource=resource)
        MapStoreResource.objects.filter(pk=resource.pk).update(data=data)

User.objects.create_user(
    "zoë", email="zoe@example.org", password="Ünïcødé pass", first_name="Zoë", last_name="Ångström-Müller"
)
zoe = User.objects.get(username="zoë")
legacy = User.objects.create_user("legacy", email="legacy@example.org")
salt = "s4lt"
legacy.password = "sha1$%s$%s" % (salt, hashlib.sha1((salt + "old-sha1-password").encode()).hexdigest())
legacy.save()

doc = Document.objects.create(
    title='Ünïcødé "quoted" \'title\'\nwith a newline \U0001f30d',
    abstract="Multi-line\nabstract with <b>markup</b> & a tab\tand a backslash \\",
    owner=zoe,
    purpose=None,
    doc_url="https://example.org/ünïcødé.pdf",
    extension="pdf",
)
doc.set_default_permissions(owner=zoe)

# Explicit object permissions for a user and a group.
editors, _ = Group.objects.get_or_create(name="editors")
first_layer = Layer.objects.order_by("pk").first()
assign_perm("view_resourcebase", zoe, first_layer.get_self_resource())
assign_perm("change_resourcebase_metadata", zoe, first_layer.get_self_resource())
assign_perm("download_resourcebase", editors, Map.objects.order_by("pk").first().get_self_resource())
print("seeded")
