"""The HTTP shell: everything between the socket and a handler, one module per mechanism
(authentication, authorization, rate limits, validation, problems, logging and metrics, ...).
Handlers use it through `shell.request` alone."""
