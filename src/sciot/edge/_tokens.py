"""The edge's device token store: one SHA-256 digest per device id, in a small JSON file.

The operator provisions a token per device (``sciot token create``); the edge keeps only its
digest, so reading the file does not let anyone sign as a device. The file is rewritten
atomically (a temporary file, then a rename) with owner-only permissions, and a running edge
notices a change (a revocation) by its modification time.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sciot.errors import ConfigError
from sciot.wire import TOKEN_BYTES, token_digest

FORMAT = "sciot-tokens/1"
DEFAULT_TOKEN_FILE = Path("sciot-tokens.json")
MAX_DEVICE_ID_BYTES = 64


@dataclass(frozen=True, slots=True)
class TokenEntry:
    device_id: str
    sha256: str
    created_at_s: float


def parse_token(text: str) -> bytes:
    """A token as printed by ``sciot token create`` (64 hex digits), or a clear error."""
    cleaned = text.strip()
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raw = b""
    if len(raw) != TOKEN_BYTES:
        raise ConfigError(
            f"a device token is {2 * TOKEN_BYTES} hex digits (as `sciot token create` prints "
            f"it); got {len(cleaned)} characters"
        )
    return raw


def _check_device_id(device_id: str) -> None:
    size = len(device_id.encode("utf-8", "replace"))
    if not device_id or size > MAX_DEVICE_ID_BYTES:
        raise ConfigError(f"device id must be 1..{MAX_DEVICE_ID_BYTES} bytes, got {size}")


class TokenStore:
    """The token file at ``path``: read on demand, never cached beyond one call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, TokenEntry]:
        """Every provisioned device (empty when the file does not exist yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read token file {self.path}: {exc.strerror}") from None
        try:
            data: Any = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT!r}")
            return {
                device_id: TokenEntry(device_id, str(e["sha256"]), float(e["created_at_s"]))
                for device_id, e in data["devices"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"token file {self.path} is not a sciot token file ({exc}); "
                "recreate it with `sciot token create`"
            ) from None

    def mtime_ns(self) -> int:
        """The file's modification time (0 when absent): how a running edge sees changes."""
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return 0

    def create(self, device_id: str) -> bytes:
        """A fresh token for ``device_id`` (replacing any earlier one); only its digest is
        written, so the caller must hand the returned token to the device now."""
        _check_device_id(device_id)
        token = secrets.token_bytes(TOKEN_BYTES)
        entries = self.load()
        entries[device_id] = TokenEntry(device_id, token_digest(token), time.time())
        self._write(entries)
        return token

    def revoke(self, device_id: str) -> bool:
        """Remove a device's token; ``False`` when it had none."""
        entries = self.load()
        if entries.pop(device_id, None) is None:
            return False
        self._write(entries)
        return True

    def _write(self, entries: dict[str, TokenEntry]) -> None:
        document = {
            "format": FORMAT,
            "devices": {
                e.device_id: {"sha256": e.sha256, "created_at_s": e.created_at_s}
                for e in sorted(entries.values(), key=lambda e: e.device_id)
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.write("\n")
        os.replace(tmp, self.path)


__all__ = ["DEFAULT_TOKEN_FILE", "TokenEntry", "TokenStore", "parse_token"]
