"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images): the offline default."""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from tixel.core.registry import register_reader
from tixel.data.images import ImageDataBase, ImageSet


class DigitsData(ImageDataBase):
    format: Literal["digits"]
    n_class: int = Field(10, ge=2, le=10)


@register_reader("digits", DigitsData)
def read_digits(cfg: DigitsData) -> dict[str, ImageSet]:
    from sklearn.datasets import load_digits

    bunch = load_digits(n_class=cfg.n_class)
    # Pixels are counts 0..16; scale to 0..255 so a PNG of a digit preprocesses like the training data.
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[..., None]
    return {"train": ImageSet(images, [str(t) for t in bunch.target], "sklearn load_digits")}
