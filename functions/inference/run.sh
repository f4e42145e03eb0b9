#!/bin/sh
# Started by the Lambda Web Adapter layer at cold start (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap):
# uvicorn serves the inference function's ASGI app (asgi.py) on the adapter's port.
exec python3 -m uvicorn --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" --no-access-log --lifespan off asgi:app
