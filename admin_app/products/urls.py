from django.urls import path
from rest_framework.routers import DefaultRouter

from products.api import ProductViewSet
from products.import_api import ProductImportView
from products.token_api import ObtainTokenView

router = DefaultRouter(trailing_slash=True)
router.register("products", ProductViewSet, basename="product")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    # Before the router's products/<pk>/ (which would take "import" for a pk).
    path("products/import/", ProductImportView.as_view(), name="product-import"),
    *router.urls,
]
