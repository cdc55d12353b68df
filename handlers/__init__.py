"""Handlers, one module per OpenAPI tag, bound to their operations by openapi/api.yaml: each
parses, calls db/ and shapes the reply, and reaches the HTTP shell only through shell.request."""
