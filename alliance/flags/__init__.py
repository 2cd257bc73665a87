"""Rupture flags: the rule registry's words (``rules``); the refresh and workflow join later."""
