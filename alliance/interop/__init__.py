"""Interoperability: data in and out of other systems (the CSV import of historical ratings)."""
