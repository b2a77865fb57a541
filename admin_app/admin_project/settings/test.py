"""The test suites' settings: local ones, with a fast password hasher and no catalog service."""

from admin_project.settings.local import *  # noqa: F403

# Test users need no protection; a real hash costs most of a second per login.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Nothing listens on port 9: the catalog "cannot be reached" unless a test starts one.
CATALOG_API_URL = "http://127.0.0.1:9"
