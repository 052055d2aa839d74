"""Prints whether each `username:password` argument checks on this GeoNode."""
import sys

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

User = get_user_model()
for pair in sys.argv[1:]:
    name, password = pair.split(":", 1)
    print(name, User.objects.get(username=name).check_password(password))
