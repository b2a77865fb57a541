"""The test suites' settings: local ones, with a fast password hasher."""

from catalog_project.settings.local import *  # noqa: F403

# Test users need no protection; a real hash costs most of a second per login.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
