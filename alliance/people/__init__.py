"""The clinic's people: accounts, roles and supervision links, administered by the clinic
admin."""
