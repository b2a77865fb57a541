from django.urls import path
from rest_framework.routers import DefaultRouter

from catalog import sync_api
from catalog.api import CatalogProductViewSet

router = DefaultRouter(trailing_slash=True)
router.register("products", CatalogProductViewSet, basename="product")

urlpatterns = [
    path("sync/versions/", sync_api.versions, name="sync-versions"),
    path("sync/checksums/", sync_api.checksums, name="sync-checksums"),
    path("sync/lag/", sync_api.lag, name="sync-lag"),
    *router.urls,
]
