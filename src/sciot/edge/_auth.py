"""Who may speak for a device id: the edge's check of every frame's authentication trailer.

With device tokens on, a ``Register`` must carry the token whose digest the token store holds
for its device id; the edge then derives that device's frame key and keeps it in memory only.
Every later frame must carry the key's tag. Nothing is counted, planned or recorded for a
frame that fails: the check runs before the frame reaches the registry, so a client without
the token cannot touch the device it names (docs/wire.md, "Authentication trailer").

Revocations reach a running edge within ``reload_interval_s``: the store's modification time
is checked at most that often, and a device whose digest is gone or changed loses its key.
"""

from __future__ import annotations

import hmac
import threading
from pathlib import Path

from sciot.edge._tokens import TokenEntry, TokenStore
from sciot.wire import Authenticated, frame_key, tag_matches, token_digest

RELOAD_INTERVAL_S = 1.0


class DeviceAuth:
    """Checks the trailer of frames against the token store; thread-safe."""

    def __init__(self, path: Path, *, reload_interval_s: float = RELOAD_INTERVAL_S) -> None:
        self.store = TokenStore(path)
        self._reload_interval_s = reload_interval_s
        self._entries: dict[str, TokenEntry] = self.store.load()
        self._mtime_ns = self.store.mtime_ns()
        self._checked_s = 0.0
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def provisioned(self) -> int:
        return len(self._entries)

    def _refresh(self, now_s: float) -> None:
        if now_s - self._checked_s < self._reload_interval_s:
            return
        self._checked_s = now_s
        mtime = self.store.mtime_ns()
        if mtime == self._mtime_ns:
            return
        try:
            entries = self.store.load()
        except Exception:  # a half-written or broken file: keep the last good view
            return
        self._mtime_ns = mtime
        for device_id in list(self._keys):
            old, new = self._entries.get(device_id), entries.get(device_id)
            if new is None or old is None or new.sha256 != old.sha256:
                del self._keys[device_id]
        self._entries = entries

    def check(self, device_id: str, is_register: bool, auth: Authenticated, now_s: float) -> str:
        """Why the frame may not speak for ``device_id`` ("" when it may).

        An empty reason on a ``Register`` also installs the device's frame key.
        """
        with self._lock:
            self._refresh(now_s)
            entry = self._entries.get(device_id)
            if entry is None:
                return (
                    f"device {device_id!r} has no token on this edge (unknown or revoked); "
                    "provision one with `sciot token create`"
                )
            if is_register:
                if auth.token is None:
                    return (
                        "this edge requires device tokens: give the device its token "
                        "(--token or SCIOT_DEVICE_TOKEN)"
                    )
                if not hmac.compare_digest(token_digest(auth.token), entry.sha256):
                    return f"wrong token for device {device_id!r}"
                self._keys[device_id] = frame_key(auth.token)
                return ""
            if auth.tag is None:
                return "this edge requires signed frames: register with the device's token"
            key = self._keys.get(device_id)
        # The tag is computed outside the lock: tail workers check frames in parallel.
        if key is None or not tag_matches(auth.signed, auth.tag, key):
            return f"frame tag does not match device {device_id!r}'s key; register again"
        return ""


__all__ = ["RELOAD_INTERVAL_S", "DeviceAuth"]
