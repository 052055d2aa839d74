"""4.4-only content for gnbr's cross-version test: a SHA1 password, a
translation that differs from its base field, extra metadata."""
import hashlib

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from geonode.base.models import ExtraMetadata, ResourceBase  # noqa: E402
from geonode.layers.models import Dataset  # noqa: E402

User = get_user_model()
user = User.objects.create_user("legacy", email="legacy@example.org")
salt = "s4lt"
user.password = "sha1$%s$%s" % (salt, hashlib.sha1((salt + "old-sha1-password").encode()).hexdigest())
user.save()
dataset = Dataset.objects.order_by("pk").first()
Dataset.objects.filter(pk=dataset.pk).update(title_en="An English title that differs")
resource = ResourceBase.objects.get(pk=dataset.pk)
extra = ExtraMetadata.objects.create(resource=resource, metadata={"field_name": "Ünïcødé", "value": "tëst 🌍"})
resource.metadata.add(extra)
print("extras")
