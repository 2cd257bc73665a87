"""Rupture flags and episodes as the clinician meets them: the rule registry's words
(``rules``), the episode pages and their forms (``views``, ``forms``) and the episodes in
plain words (``text``)."""
