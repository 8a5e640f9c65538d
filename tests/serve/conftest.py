import pytest
from serving import running, tiny_bundles

from tixel.serve.app import create_app
from tixel.serve.limits import ServeSettings
from tixel.serve.run import free_port, model_sources


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return tiny_bundles(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="session")
def server(runs):
    """All three tiny bundles behind tight limits, so that each limit is cheap to hit."""
    settings = ServeSettings(max_batch_size=16, max_wait_ms=20, max_items=8, max_text_chars=200,
                             max_image_bytes=50_000, max_image_pixels=128 * 128, max_body_bytes=200_000)
    app = create_app(model_sources([str(p) for p in runs.values()]), settings)
    with running(app, free_port()) as (url, _):
        yield url
