"""`tixel serve` as a real process: loopback by default, SIGTERM lets an in-flight request finish."""
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
from serving import wait_ready

from tixel.serve.run import free_port


def test_serve_process_graceful_sigterm_and_api_key(runs):
    port = free_port()
    env = {**os.environ, "TIXEL_TEST_KEY": "k3y"}
    proc = subprocess.Popen([sys.executable, "-m", "tixel", "serve", f"s={runs['sentiment']}", "--port", str(port),
                             "--max-wait-ms", "1500", "--api-key-env", "TIXEL_TEST_KEY"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer k3y"}
    try:
        wait_ready(url)
        result = {}
        caller = threading.Thread(target=lambda: result.update(reply=httpx.post(
            f"{url}/v1/models/s/predict", json={"inputs": ["wonderful film"]}, headers=auth, timeout=30)))
        caller.start()
        time.sleep(0.5)  # queued in the batcher, which waits up to 1.5 s for company
        proc.send_signal(signal.SIGTERM)
        caller.join(30)
        assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    finally:
        proc.kill()
    log = proc.stdout.read()
    assert result["reply"].status_code == 200, log
    assert '"route": "/v1/models/{name}/predict", "status": 200' in log  # the JSON access log line
    assert "127.0.0.1" in log  # bound to loopback


def test_serve_refuses_an_unset_api_key_variable(runs):
    env = {k: v for k, v in os.environ.items() if k != "TIXEL_NO_SUCH_KEY"}
    done = subprocess.run([sys.executable, "-m", "tixel", "serve", str(runs["sentiment"]), "--api-key-env",
                           "TIXEL_NO_SUCH_KEY"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "TIXEL_NO_SUCH_KEY" in done.stderr


def test_serve_refuses_a_damaged_bundle_at_once(runs, tmp_path):
    """Issue 25, item 4: one bad bundle of one exits non-zero with the file named, before serving."""
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(runs["sentiment"] / "bundle" if (runs["sentiment"] / "bundle").is_dir() else runs["sentiment"], copy)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    done = subprocess.run([sys.executable, "-m", "tixel", "serve", str(copy), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "model.safetensors" in done.stderr and "Traceback" not in done.stderr, done.stderr
