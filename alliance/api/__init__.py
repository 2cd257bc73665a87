"""The REST API's shared parts: error shape, pagination, ordering, schema, permissions."""
