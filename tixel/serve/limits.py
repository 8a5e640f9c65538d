"""Server settings and the checks every request item passes before it may join a shared batch."""
from __future__ import annotations

import base64
import binascii
import io
from typing import Optional

from pydantic import BaseModel, Field

from tixel.core.errors import DataError
from tixel.data.images import ImageTooLarge, load_image


class ServeSettings(BaseModel):
    max_batch_size: int = Field(32, ge=1, description="items per forward pass")
    max_wait_ms: float = Field(5.0, ge=0, description="how long the first request waits for company")
    batching: bool = True
    max_body_bytes: int = Field(10 * 2**20, ge=1)
    max_items: int = Field(256, ge=1, description="items per request")
    max_text_chars: int = Field(20_000, ge=1)
    max_image_bytes: int = Field(5 * 2**20, ge=1, description="encoded size of one image")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="decoded width x height of one image")
    api_key: Optional[str] = Field(None, repr=False)


class ItemError(Exception):
    """A request item that cannot be predicted; `status` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def check_count(n: int, settings: ServeSettings) -> None:
    if n == 0:
        raise ItemError(422, "inputs: give at least one item")
    if n > settings.max_items:
        raise ItemError(413, f"inputs: {n} items, more than the limit of {settings.max_items} per request")


def check_text(index: int, item, settings: ServeSettings) -> str:
    if not isinstance(item, str):
        raise ItemError(422, f"inputs[{index}]: expected a string, got {type(item).__name__}")
    if len(item) > settings.max_text_chars:
        raise ItemError(413, f"inputs[{index}]: {len(item)} characters, more than the limit of {settings.max_text_chars}")
    return item


def image_bytes(index: int, item) -> bytes:
    """An image item in JSON: a base64 string, or {"b64": "..."}."""
    if isinstance(item, dict) and set(item) == {"b64"}:
        item = item["b64"]
    if not isinstance(item, str):
        raise ItemError(422, f"inputs[{index}]: expected a base64 string or {{\"b64\": ...}}, got {type(item).__name__}")
    try:
        return base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError):
        raise ItemError(422, f"inputs[{index}]: not valid base64") from None


def decode_image(index: int, data: bytes, settings: ServeSettings):
    """Encoded bytes -> uint8 (H, W, C); too many bytes or pixels is refused before decoding."""
    if len(data) > settings.max_image_bytes:
        raise ItemError(413, f"inputs[{index}]: image of {len(data)} bytes, more than the limit of {settings.max_image_bytes}")
    try:
        return load_image(io.BytesIO(data), None, None, max_pixels=settings.max_image_pixels)
    except ImageTooLarge as err:
        raise ItemError(413, f"inputs[{index}]: {err}") from None
    except DataError as err:
        raise ItemError(422, f"inputs[{index}]: {err}") from None
