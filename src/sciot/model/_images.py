"""Reading images into model inputs: float32 height x width x channels in [0, 1].

Used for calibration folders, the reference test image in tests and benches, and the demo. It
needs Pillow, which comes with the ``convert`` extra; the core never reads images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from sciot.errors import ConfigError, MissingExtraError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".webp"})


def load_image(
    path: str | Path, *, size: tuple[int, int] | None = None, channels: int = 3
) -> npt.NDArray[np.float32]:
    """Read an image as float32 ``(height, width, channels)`` scaled to [0, 1].

    ``size`` is ``(height, width)``; the image is resized bilinearly when it differs, so any
    photo can feed a model with a fixed input. ``channels`` is 3 (RGB) or 1 (grey).
    """
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingExtraError("pillow", "convert", "Reading images") from exc
    source = Path(path)
    try:
        with Image.open(source) as opened:
            image = opened.convert("RGB" if channels == 3 else "L")
    except OSError as exc:  # includes UnidentifiedImageError
        raise ConfigError(f"cannot read image {source}: {exc}") from exc
    if size is not None and (image.height, image.width) != size:
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    if channels == 1:
        pixels = pixels[:, :, np.newaxis]
    return pixels
