from rest_framework.routers import DefaultRouter

from catalog.api import CatalogProductViewSet

router = DefaultRouter(trailing_slash=True)
router.register("products", CatalogProductViewSet, basename="product")

urlpatterns = router.urls
