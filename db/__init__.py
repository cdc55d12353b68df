"""Data layer: models, sessions and the queries the API needs; it flushes, never commits."""
