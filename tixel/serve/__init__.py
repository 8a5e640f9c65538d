"""`tixel serve`: a FastAPI app over Predictors, with dynamic micro-batching (batcher.py), request limits
(limits.py), Prometheus metrics (metrics.py) and uvicorn as the server (run.py)."""
