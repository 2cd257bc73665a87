"""Benchmarks: a synthetic clinic in a database of its own, and timed requests against it.

``synthetic`` builds the clinic at a scale (bulk inserts, flags from the rupture engine),
``scenarios`` lists what is timed (add a Scenario to time another page), ``runner`` times
them with Django's test client and counts their SQL queries, and ``database`` makes and
drops the benchmark's own database. ``manage.py bench`` puts them together; docs/dashboards.md
has the figures.
"""
