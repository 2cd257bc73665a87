"""The API's one router module: /api/v1/ endpoints, the OpenAPI schema and its docs."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from alliance.api import views as alliance_views
from alliance.api.errors import not_found

router = SimpleRouter()
router.register("clients", alliance_views.ClientViewSet, basename="api-client")
router.register("flags", alliance_views.FlagViewSet, basename="api-flag")

v1 = [
    path("auth/token/", alliance_views.AuthTokenView.as_view(), name="api-auth-token"),
    *router.urls,
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Anything else under /api/ answers the API's error shape, not an HTML page.
    re_path(r"^.*$", not_found),
]
