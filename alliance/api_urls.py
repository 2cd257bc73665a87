"""The API's one router module: /api/v1/ endpoints, the OpenAPI schema and its docs."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from alliance.api import jobs as job_views
from alliance.api import views as alliance_views
from alliance.api.errors import not_found
from measures.api import views as measures_views
from sessions.api import views as sessions_views

router = SimpleRouter()
router.register("clients", alliance_views.ClientViewSet, basename="api-client")
router.register("sessions", sessions_views.TherapySessionViewSet, basename="api-session")
router.register("ratings", measures_views.RatingViewSet, basename="api-rating")
router.register("instruments", measures_views.InstrumentViewSet, basename="api-instrument")
router.register("episodes", alliance_views.EpisodeViewSet, basename="api-episode")
router.register("flags", alliance_views.FlagViewSet, basename="api-flag")
router.register("jobs", job_views.JobViewSet, basename="api-job")

v1 = [
    path("auth/token/", alliance_views.AuthTokenView.as_view(), name="api-auth-token"),
    path("caseload/", alliance_views.CaseloadView.as_view(), name="api-caseload"),
    path("supervision/", alliance_views.SupervisionView.as_view(), name="api-supervision"),
    path(
        "imports/ratings/",
        measures_views.RatingsImportView.as_view(),
        name="api-import-ratings",
    ),
    path("fhir/bundle/", alliance_views.FhirBundleView.as_view(), name="api-fhir-bundle"),
    path(
        "clients/<int:client_id>/fhir/",
        alliance_views.ClientFhirBundleView.as_view(),
        name="api-client-fhir",
    ),
    path(
        "exports/ratings.csv",
        alliance_views.RatingsCsvExportView.as_view(),
        name="api-export-ratings-csv",
    ),
    path(
        "exports/ratings.xlsx",
        alliance_views.RatingsXlsxExportView.as_view(),
        name="api-export-ratings-xlsx",
    ),
    path(
        "exports/clients/<int:client_id>/record.xlsx",
        alliance_views.ClientRecordExportView.as_view(),
        name="api-export-client-record",
    ),
    *router.urls,
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script as a file, not inline: fit for a strict CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Anything else under /api/ answers the API's error shape, not an HTML page.
    re_path(r"^.*$", not_found),
]
