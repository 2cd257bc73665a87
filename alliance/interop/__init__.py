"""Data in and out: CSV/Excel exports, the client record export, FHIR R4 bundles and the
ratings import."""
