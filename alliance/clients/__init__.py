"""Clients: their records, the caseload and the client pages."""
