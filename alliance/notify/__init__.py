"""Messages to people: email now (email.py); in-app notices, reminders and digests to come."""
