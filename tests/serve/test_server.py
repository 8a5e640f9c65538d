"""The HTTP server over real loopback HTTP: routes, limits, batching, API key, shutdown."""
import asyncio
import base64
import io
import json
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image
from serving import running

from tixel.core.errors import TixelError
from tixel.engine.predict import Predictor
from tixel.serve.app import create_app
from tixel.serve.limits import ServeSettings
from tixel.serve.run import free_port, model_sources

TEXTS = ["the film was wonderful", "a boring plot and tedious actors", "the story was superb",
         "really dreadful ending", "moving and brilliant", "clumsy and terrible"]


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array[..., 0] if array.ndim == 3 else array).save(out, format="PNG")
    return out.getvalue()


def digit_images(n: int) -> list[np.ndarray]:
    from sklearn.datasets import load_digits

    return [(img * 16).clip(0, 255).astype(np.uint8)[..., None] for img in load_digits().images[:n]]


def test_health_ready_models_docs_metrics(server):
    assert httpx.get(f"{server}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server}/ready").json()["ready"] is True
    models = {m["name"]: m for m in httpx.get(f"{server}/v1/models").json()["models"]}
    assert {"digits", "sentiment", "ner"} == set(models)
    assert models["digits"]["inputs"] == "image" and models["sentiment"]["labels"] == ["neg", "pos"]
    assert "/v1/models/{name}/predict" in httpx.get(f"{server}/openapi.json").json()["paths"]
    assert httpx.get(f"{server}/docs").status_code == 200
    httpx.post(f"{server}/v1/models/sentiment/predict", json={"inputs": ["great"]})
    text = httpx.get(f"{server}/metrics").text
    assert 'tixel_requests_total{path="/v1/models/{name}/predict",status="200"}' in text
    assert "tixel_batch_size_bucket" in text and "tixel_request_latency_seconds_bucket" in text


def test_text_prediction_matches_the_predictor(server, runs):
    reply = httpx.post(f"{server}/v1/models/sentiment/predict", json={"inputs": TEXTS[:2], "top_k": 1}).json()
    expected = Predictor.load(runs["sentiment"]).predict(TEXTS[:2], top_k=1)
    assert reply["model"] == "sentiment" and reply["outputs"] == expected


def test_image_base64_and_multipart_match_the_predictor(server, runs):
    images = digit_images(3)
    expected = [r["label"] for r in Predictor.load(runs["digits"]).predict(images)]
    body = {"inputs": [base64.b64encode(png(images[0])).decode(), {"b64": base64.b64encode(png(images[1])).decode()}]}
    reply = httpx.post(f"{server}/v1/models/digits/predict", json=body).json()
    assert [o["label"] for o in reply["outputs"]] == expected[:2]
    files = [("files", (f"{i}.png", png(img), "image/png")) for i, img in enumerate(images)]
    reply = httpx.post(f"{server}/v1/models/digits/predict", files=files, data={"top_k": "2"}).json()
    assert [o["label"] for o in reply["outputs"]] == expected
    assert all(len(o["top_k"]) == 2 for o in reply["outputs"])


def test_ner_returns_entities_with_offsets(server):
    reply = httpx.post(f"{server}/v1/models/ner/predict", json={"inputs": ["John Smith lives in Paris"]}).json()
    entity = reply["outputs"][0]["entities"]
    assert all(set(e) == {"text", "type", "start", "end"} for e in entity)
    assert all("John Smith lives in Paris"[e["start"]:e["end"]] == e["text"] for e in entity)


@pytest.mark.parametrize("path, body, status, words", [
    ("/v1/models/nope/predict", {"inputs": ["x"]}, 404, "sentiment"),
    ("/v1/models/sentiment/predict", {"inputs": [3]}, 422, "inputs"),
    ("/v1/models/sentiment/predict", {"texts": ["x"]}, 422, "inputs"),
    ("/v1/models/sentiment/predict", {"inputs": []}, 422, "at least one"),
    ("/v1/models/sentiment/predict", {"inputs": ["x"] * 9}, 413, "limit of 8"),
    ("/v1/models/sentiment/predict", {"inputs": ["x" * 201]}, 413, "201 characters"),
    ("/v1/models/sentiment/predict", {"inputs": ["x"], "top_k": 0}, 422, "top_k"),
    ("/v1/models/digits/predict", {"inputs": ["not base64!"]}, 422, "base64"),
    ("/v1/models/digits/predict", {"inputs": [base64.b64encode(b"not an image").decode()]}, 422, "cannot read image"),
])
def test_bad_requests_get_clear_json_errors(server, path, body, status, words):
    reply = httpx.post(f"{server}{path}", json=body)
    assert reply.status_code == status
    assert words in json.dumps(reply.json()["detail"])


def test_size_limits_refuse_big_bodies_images_and_bombs(server):
    big = httpx.post(f"{server}/v1/models/sentiment/predict", content=b"{" + b" " * 300_000 + b"}",
                     headers={"content-type": "application/json"})
    assert big.status_code == 413 and "limit of 200000" in big.json()["detail"]
    noisy = np.random.default_rng(0).integers(0, 256, (180, 180), dtype=np.uint8)  # ~32 kB of PNG, 32,400 pixels
    bomb = base64.b64encode(png(noisy)).decode()
    reply = httpx.post(f"{server}/v1/models/digits/predict", json={"inputs": [bomb]})
    assert reply.status_code == 413 and "pixels" in reply.json()["detail"]
    heavy = base64.b64encode(np.random.default_rng(1).bytes(60_000)).decode()
    reply = httpx.post(f"{server}/v1/models/digits/predict", json={"inputs": [heavy]})
    assert reply.status_code == 413 and "bytes" in reply.json()["detail"]


def test_parallel_callers_each_get_their_own_answer(server, runs):
    """32 concurrent requests with different texts: batched together, answered each with its own rows."""
    expected = {t: r for t, r in zip(TEXTS, Predictor.load(runs["sentiment"]).predict(TEXTS))}

    async def call(client, i):
        texts = [TEXTS[i % 6], TEXTS[(i + 1) % 6]][: 1 + i % 2]
        reply = await client.post(f"{server}/v1/models/sentiment/predict", json={"inputs": texts})
        return texts, reply.json()["outputs"]

    async def main():
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(call(client, i) for i in range(32)))

    for texts, outputs in asyncio.run(main()):
        assert outputs == [expected[t] for t in texts]
    metrics = httpx.get(f"{server}/metrics").text
    sizes = [line for line in metrics.splitlines() if line.startswith('tixel_batch_size_count{model="sentiment"}')]
    batches = float(sizes[0].split()[-1])
    assert batches < 32  # 32 requests ran in fewer forward passes than requests


def test_a_failing_batch_fails_only_its_bad_request():
    class Fake:
        """A predictor that fails on one particular text, as a model might on one input."""

        def __init__(self):
            from types import SimpleNamespace

            task = SimpleNamespace(inputs="text")
            self.bundle = SimpleNamespace(task=task, config=SimpleNamespace(task="t"), labels=SimpleNamespace(names=["a"]),
                                          metrics={})

        def predict(self, items, top_k=3):
            if "poison" in items:
                raise ValueError("cannot predict poison")
            return [{"label": "a", "top_k": [{"label": "a", "prob": 1.0}], "echo": t} for t in items]

    app = create_app({"fake": Fake}, ServeSettings(max_wait_ms=200))

    async def main(url):
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(client.post(f"{url}/v1/models/fake/predict", json={"inputs": [t]})
                                          for t in ("one", "poison", "two")))

    with running(app, free_port()) as (url, _):
        good1, bad, good2 = asyncio.run(main(url))
    assert good1.json()["outputs"][0]["echo"] == "one" and good2.json()["outputs"][0]["echo"] == "two"
    assert bad.status_code == 500 and "poison" in bad.json()["detail"]


def test_api_key_on_and_off(runs):
    app = create_app(model_sources([f"s={runs['sentiment']}"]), ServeSettings(api_key="s3cret"))
    with running(app, free_port()) as (url, _):
        route = f"{url}/v1/models/s/predict"
        assert httpx.post(route, json={"inputs": ["x"]}).status_code == 401
        assert httpx.post(route, json={"inputs": ["x"]}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.post(route, json={"inputs": ["x"]}, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(f"{url}/health").status_code == 200  # liveness needs no key


def test_graceful_shutdown_finishes_in_flight_requests(runs):
    """A request waiting in the batcher when shutdown starts still gets its answer; new ones are refused."""
    app = create_app(model_sources([f"s={runs['sentiment']}"]), ServeSettings(max_wait_ms=1500, max_batch_size=64))
    with running(app, free_port()) as (url, server):
        result = {}
        caller = threading.Thread(target=lambda: result.update(
            reply=httpx.post(f"{url}/v1/models/s/predict", json={"inputs": ["great film"]}, timeout=30)))
        caller.start()
        import time

        time.sleep(0.5)  # the request is now queued, its batch still gathering
        server.should_exit = True
        caller.join(20)
    assert result["reply"].status_code == 200 and result["reply"].json()["outputs"][0]["label"] in ("neg", "pos")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)


def test_zero_shot_classifier_is_served(tmp_path, monkeypatch):
    monkeypatch.setenv("TIXEL_CACHE_DIR", str(tmp_path / "cache"))
    labels = ["sport", "technology"]
    app = create_app({"zs": lambda: Predictor.zero_shot(labels, ["This text is about {label}."])})
    texts = ["The striker scored twice in the cup final", "The new laptop has a faster processor and more memory"]
    with running(app, free_port()) as (url, _):
        reply = httpx.post(f"{url}/v1/models/zs/predict", json={"inputs": texts, "top_k": 2}).json()
        listed = httpx.get(f"{url}/v1/models").json()["models"][0]
    assert [o["label"] for o in reply["outputs"]] == labels
    assert listed["task"] == "zero_shot_classification" and listed["labels"] == labels


def test_an_ensemble_is_served_under_one_name(runs, tmp_path):
    """`A+B` serves the mean of both bundles' class probabilities, the model `tixel evaluate A B` reports."""
    from serving import QUIET, RNN
    from text_data import text_config

    from tixel.commands.train import train
    from tixel.core.config import validate
    from tixel.engine.predict import EnsemblePredictor

    cfg = text_config(tmp_path, RNN, epochs=2)
    cfg.update(seed=1, output={"dir": str(tmp_path / "runs"), "name": "other"})
    other = train(validate(cfg), **QUIET).run_dir
    app = create_app(model_sources([f"both={runs['sentiment']}+{other}"]))
    with running(app, free_port()) as (url, _):
        reply = httpx.post(f"{url}/v1/models/both/predict", json={"inputs": TEXTS, "top_k": 2}).json()
    members = [Predictor.load(runs["sentiment"]), Predictor.load(other)]
    assert reply["outputs"] == EnsemblePredictor(members).predict(TEXTS, top_k=2)
    single = members[0].predict(TEXTS, top_k=2)
    assert [o["top_k"] for o in reply["outputs"]] != [o["top_k"] for o in single]


def test_a_model_that_fails_to_load_is_logged_at_once_and_fails_ready_with_the_reason(runs, caplog):
    """Issue 25, item 4: the load used to fail silently until shutdown, with /ready 503 forever."""
    import logging

    def broken():
        raise TixelError("/somewhere/bundle/model.safetensors: cannot read the weights (truncated)")

    app = create_app({"good": model_sources([f"s={runs['sentiment']}"])["s"], "bad": broken})
    with caplog.at_level(logging.ERROR, logger="tixel.serve"), running(app, free_port(), ready=False) as (url, _):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = httpx.get(f"{url}/ready")
            if ready.json().get("failed"):
                break
            time.sleep(0.2)
        assert ready.status_code == 503 and "model.safetensors" in ready.json()["failed"]["bad"]
        logged = [r.getMessage() for r in caplog.records if r.name == "tixel.serve"]
        assert any("bad" in m and "model.safetensors" in m for m in logged), logged
        ok = httpx.post(f"{url}/v1/models/good/predict", json={"inputs": ["a wonderful film"]}, timeout=30)
        assert ok.status_code == 200  # the other model serves


def test_when_no_model_loads_the_server_stops_itself():
    import uvicorn

    def broken():
        raise TixelError("bundle/model.safetensors: cannot read the weights")

    app = create_app({"bad": broken})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    app.state.tixel["stop"] = lambda: setattr(server, "should_exit", True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive() and "model.safetensors" in app.state.tixel["failed"]["bad"]


def declared_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (Pillow refuses it as a bomb on open)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def test_server_edges_answer_the_documented_status(server):
    """Issue 25, item 7: a PNG declaring 50000x50000 pixels is 413 (was 422 with Pillow's words), a non-image in
    base64 names no Python object, and a JSON body sent as text/plain is 415."""
    huge = base64.b64encode(declared_png(50_000, 50_000)).decode()
    reply = httpx.post(f"{server}/v1/models/digits/predict", json={"inputs": [huge]})
    assert reply.status_code == 413 and "2,500,000,000 pixels" in reply.json()["detail"], reply.text
    junk = httpx.post(f"{server}/v1/models/digits/predict",
                      json={"inputs": [base64.b64encode(b"not an image").decode()]})
    assert junk.status_code == 422 and "object at 0x" not in junk.text and "not an image" in junk.text
    plain = httpx.post(f"{server}/v1/models/sentiment/predict", content=json.dumps({"inputs": ["x"]}),
                       headers={"content-type": "text/plain"})
    assert plain.status_code == 415 and "application/json" in plain.json()["detail"]
