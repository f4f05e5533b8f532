"""Where the shared reference data (the SCIoT FOMO model and test image) lives.

The data sits in ``shared/reference`` beside the checkout and is never copied into the repo.
``SCIOT_REFERENCE_DIR`` overrides the search. Tests that need it skip with the reason on a
developer's machine without it, but fail under CI (``CI`` set), where a skip would silently
drop an acceptance test.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_CANDIDATES = (
    Path(os.environ["SCIOT_REFERENCE_DIR"]) if os.environ.get("SCIOT_REFERENCE_DIR") else None,
    _REPO.parent / "shared" / "reference",
    Path("/work/shared/reference"),
)


def reference_dir() -> Path | None:
    """The first reference directory that holds the SCIoT FOMO model, or None."""
    for candidate in _CANDIDATES:
        if candidate is not None and (candidate / "sciot-fomo96" / "test_model.h5").is_file():
            return candidate
    return None


REFERENCE = reference_dir()
FOMO_DIR = (REFERENCE or _REPO.parent / "shared" / "reference") / "sciot-fomo96"


def require_reference() -> Path:
    """The FOMO reference folder; skips (or fails under CI) when it is missing."""
    import pytest

    if REFERENCE is None:
        message = (
            "SCIoT reference data not found (looked in SCIOT_REFERENCE_DIR, "
            f"{_REPO.parent / 'shared' / 'reference'}, /work/shared/reference)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return FOMO_DIR
