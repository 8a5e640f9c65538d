"""The HTTP API. Routes:

    GET  /health                      liveness: the process answers
    GET  /ready                       200 once every model is loaded, 503 before
    GET  /v1/models                   what is served: name, task, labels, inputs
    POST /v1/models/{name}/predict    JSON {"inputs": [...], "top_k": 3} or multipart files
    GET  /metrics                     Prometheus text format
    GET  /docs, /openapi.json         the schema

Every item is checked (limits.py) in the request's own handler, before it joins a shared batch.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from tixel.core.errors import TixelError
from tixel.serve.batcher import MicroBatcher
from tixel.serve.limits import (
    ItemError,
    ServeSettings,
    check_count,
    check_text,
    decode_image,
    image_bytes,
)
from tixel.serve.metrics import ServeMetrics

MAX_TOP_K = 20
access_log = logging.getLogger("tixel.access")


class PredictRequest(BaseModel):
    inputs: list[Union[str, dict[str, str]]] = Field(
        ..., description='texts, or images as base64 strings or {"b64": "..."}')
    top_k: int = Field(3, ge=1, le=MAX_TOP_K)


class PredictResponse(BaseModel):
    model: str
    outputs: list[dict[str, Any]]


@dataclass
class Served:
    name: str
    load: Callable[[], Any]  # -> Predictor; runs on the inference thread at startup
    predictor: Any = None
    batcher: Optional[MicroBatcher] = field(default=None, repr=False)

    @property
    def inputs(self) -> str:
        return self.predictor.bundle.task.inputs

    def describe(self) -> dict:
        b = self.predictor.bundle
        return {"name": self.name, "task": b.config.task, "inputs": self.inputs, "labels": b.labels.names,
                "backend": getattr(self.predictor, "backend", "torch"), "metrics": b.metrics}


def create_app(models: dict[str, Callable[[], Any]], settings: Optional[ServeSettings] = None) -> FastAPI:
    """`models` maps a name to a function returning its Predictor (called once, at startup)."""
    settings = settings or ServeSettings()
    served = {name: Served(name, load) for name, load in models.items()}
    metrics, executor = ServeMetrics(), ThreadPoolExecutor(1, thread_name_prefix="tixel-infer")
    state = {"ready": False, "failed": {}, "stop": None}  # failed: model name -> why it did not load
    log = logging.getLogger("tixel.serve")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = asyncio.get_running_loop().create_task(_load(served, settings, metrics, executor, state, log))
        yield
        await loading
        for s in served.values():  # uvicorn has already let in-flight requests finish
            if s.batcher:
                await s.batcher.stop()
        executor.shutdown(wait=True)

    app = FastAPI(title="tixel", lifespan=lifespan)
    app.state.tixel = state  # `tixel serve` reads which models failed once the server has stopped
    app.exception_handler(Exception)(_internal_error)
    app.middleware("http")(_observe(settings, metrics))
    require_key = _key_check(settings)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        body = {"ready": state["ready"], "models": sorted(served)}
        if state["failed"]:
            body["failed"] = state["failed"]
        return JSONResponse(body, status_code=200 if state["ready"] else 503)

    @app.get("/v1/models", dependencies=[Depends(require_key)])
    async def list_models() -> dict:
        return {"models": [s.describe() for s in served.values() if s.predictor is not None]}

    @app.post("/v1/models/{name}/predict", response_model=PredictResponse, dependencies=[Depends(require_key)],
              openapi_extra=_request_body_schema())
    async def predict(name: str, request: Request) -> PredictResponse:
        s = _model(served, name, state)
        try:
            items, top_k = await _parse(request, s.inputs, settings)
        except ItemError as err:
            raise HTTPException(err.status, err.message) from None
        rows = await s.batcher.submit(items)
        return PredictResponse(model=name, outputs=[_trim(r, top_k) for r in rows])

    @app.get("/metrics", dependencies=[Depends(require_key)])
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.text(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _internal_error(request: Request, err: Exception) -> JSONResponse:
    logging.getLogger("tixel.serve").exception("prediction failed")
    return JSONResponse({"detail": f"prediction failed: {type(err).__name__}: {err}"}, status_code=500)


async def _load(served: dict, settings: ServeSettings, metrics: ServeMetrics, executor, state: dict,
                log: logging.Logger) -> None:
    """Load each model on the inference thread. One that fails is logged at once and named in /ready
    (503) with the reason, while the others serve; when none loads, the server stops."""
    loop = asyncio.get_running_loop()
    for s in served.values():
        try:
            s.predictor = await loop.run_in_executor(executor, s.load)
        except Exception as err:  # any failure of a user's bundle must reach the log, not wait for shutdown
            state["failed"][s.name] = str(err) if isinstance(err, TixelError) else f"{type(err).__name__}: {err}"
            log.error(f"model {s.name}: failed to load: {state['failed'][s.name]}",
                      exc_info=not isinstance(err, TixelError))
            continue
        run = _runner(s.predictor)
        s.batcher = MicroBatcher(run, executor, settings.max_batch_size, settings.max_wait_ms, settings.batching,
                                 on_batch=metrics.batch.labels(s.name).observe)
        s.batcher.start()
    state["ready"] = not state["failed"]
    if len(state["failed"]) == len(served) and state.get("stop"):
        log.error("no model loaded; stopping")
        state["stop"]()  # `tixel serve` stops its server, then exits non-zero naming the failures


def _runner(predictor) -> Callable[[list], list]:
    return lambda items: predictor.predict(items, top_k=MAX_TOP_K)


def _model(served: dict, name: str, state: dict) -> Served:
    if name not in served:
        raise HTTPException(404, f"no model named {name!r}; serving: {', '.join(sorted(served))}")
    if name in state["failed"]:
        raise HTTPException(503, f"model {name!r} failed to load: {state['failed'][name]}")
    if served[name].batcher is None:
        raise HTTPException(503, "models are still loading; poll /ready")
    return served[name]


def _trim(row: dict, top_k: int) -> dict:
    return {**row, "top_k": row["top_k"][:top_k]} if "top_k" in row else row


async def _parse(request: Request, kind: str, settings: ServeSettings) -> tuple[list, int]:
    """The request's items, each checked against the limits, ready for the Predictor."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _parse_form(request, kind, settings)
    if content_type != "application/json":
        raise ItemError(415, f"Content-Type {content_type or '(none)'}: send application/json or multipart/form-data")
    try:
        body = PredictRequest.model_validate_json(await request.body())
    except ValidationError as err:
        raise ItemError(422, _first_error(err)) from None
    check_count(len(body.inputs), settings)
    if kind == "image":
        items = [decode_image(i, image_bytes(i, x), settings) for i, x in enumerate(body.inputs)]
    else:
        items = [check_text(i, x, settings) for i, x in enumerate(body.inputs)]
    return items, body.top_k


async def _parse_form(request: Request, kind: str, settings: ServeSettings) -> tuple[list, int]:
    form = await request.form(max_files=settings.max_items + 1, max_fields=8)
    files = [v for _, v in form.multi_items() if hasattr(v, "read")]
    check_count(len(files), settings)
    try:
        top_k = int(form.get("top_k", 3))
    except (TypeError, ValueError):
        raise ItemError(422, "top_k: expected an integer") from None
    if not 1 <= top_k <= MAX_TOP_K:
        raise ItemError(422, f"top_k: expected 1 to {MAX_TOP_K}, got {top_k}")
    items = []
    for i, upload in enumerate(files):
        data = await upload.read(settings.max_image_bytes + 1)
        items.append(decode_image(i, data, settings) if kind == "image" else check_text(i, _utf8(i, data), settings))
    return items, top_k


def _utf8(index: int, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ItemError(422, f"inputs[{index}]: a text file must be UTF-8") from None


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "body"
    return f"{where}: {e['msg']}"


def _observe(settings: ServeSettings, metrics: ServeMetrics):
    """Body-size limit, latency metrics and one JSON access-log line per request."""
    async def middleware(request: Request, call_next):
        start = time.perf_counter()
        response = _too_large(request, settings) or await call_next(request)
        seconds = time.perf_counter() - start
        route = request.scope.get("route")
        path = getattr(route, "path", "other")
        metrics.observe(path, response.status_code, seconds)
        access_log.info(json.dumps({"method": request.method, "path": request.url.path, "route": path,
                                    "status": response.status_code, "ms": round(seconds * 1000, 2),
                                    "client": request.client.host if request.client else None}))
        return response
    return middleware


def _too_large(request: Request, settings: ServeSettings) -> Optional[JSONResponse]:
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    length = request.headers.get("content-length")
    if length is None:
        return JSONResponse({"detail": "send a Content-Length; chunked bodies are not accepted"}, status_code=411)
    if not length.isdigit() or int(length) > settings.max_body_bytes:
        return JSONResponse({"detail": f"body of {length} bytes is more than the limit of {settings.max_body_bytes}"},
                            status_code=413)
    return None


def _key_check(settings: ServeSettings):
    bearer = HTTPBearer(auto_error=False, description="set when the server runs with --api-key-env")

    async def require_key(credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        if settings.api_key is None:
            return
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})
    return require_key


def _request_body_schema() -> dict:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": PredictRequest.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K}}}}}}}
