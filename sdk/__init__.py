"""Client SDKs generated from openapi/api.yaml (`make sdk`, or `python -m sdk.generate`)."""
