"""Security: session lifetime, two-factor, lockout page, audit-log pages, data retention.

See docs/security.md for what each safeguard is and the test that proves it.
"""
