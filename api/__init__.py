"""HTTP handlers, one module per OpenAPI tag; the spec in openapi/api.yaml binds them."""
