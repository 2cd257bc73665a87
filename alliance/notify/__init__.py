"""Messages to people: email (email.py), in-app notices about rupture episodes (services,
selectors, views) and the alert emails and digests sent about them (alerts, tasks)."""
