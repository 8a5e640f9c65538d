"""Write a few of the bundled digits as PNG files (for `tixel predict` in `make demo`)."""
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def main(out_dir: str, count: int) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    for i in range(count):
        index = len(digits.images) - 1 - i  # from the end of the set
        pixels = np.rint(digits.images[index] * (255 / 16)).astype(np.uint8)
        Image.fromarray(pixels).save(out / f"digit{index}-true{digits.target[index]}.png")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6)
