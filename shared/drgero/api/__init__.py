"""The FastAPI application behind the api function (/api/* and the /v1 management routes).
Routers are thin: they check the principal, call one domain function, shape the answer."""
