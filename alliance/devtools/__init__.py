"""Tools for developers: the benchmark, the demo clinic, the alert-burden figures and the
load test's preparation. Run from management commands only; never imported at run time
(an import-linter contract says so)."""
