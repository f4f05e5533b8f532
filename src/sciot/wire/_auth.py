"""The authentication trailer of a frame: a device token on ``Register``, an HMAC tag on the rest.

An edge with device tokens must tell a device from someone using its id, on every transport,
without a second message layout. Header flag bit 0 says the frame ends with a trailer that
``frame_bytes`` counts: a ``Register`` carries the device's 32-byte token (the edge checks it
against the SHA-256 it stores), every other request a 16-byte truncated HMAC-SHA256 of the
frame's preceding bytes, keyed by a key derived from the token. :func:`strip_auth` removes the
trailer and clears the flag, so the frame decodes exactly as an unsigned one. The normative
layout is ``docs/wire.md`` ("Authentication trailer").
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import NamedTuple

from sciot.errors import LocalProtocolError, RemoteProtocolError
from sciot.wire._codec import HEADER_BYTES, MessageType

FLAG_AUTH = 0x0001
TOKEN_BYTES = 32
TAG_BYTES = 16
_FRAME_KEY_LABEL = b"sciot frame key v1"
_LENGTH = struct.Struct("<I")
_FLAGS = struct.Struct("<H")
_LENGTH_AT = 4
_FLAGS_AT = 26


def token_digest(token: bytes) -> str:
    """What the edge stores of a token: its SHA-256, hex (the token itself is never kept)."""
    return hashlib.sha256(token).hexdigest()


def frame_key(token: bytes) -> bytes:
    """The key a device's frame tags are made with; derived, so the token never travels
    after registration."""
    return hmac.new(token, _FRAME_KEY_LABEL, hashlib.sha256).digest()


def _with_trailer(frame: bytes, trailer: bytes) -> bytearray:
    if len(frame) < HEADER_BYTES:
        raise LocalProtocolError(f"cannot sign a {len(frame)}-byte frame: shorter than a header")
    (flags,) = _FLAGS.unpack_from(frame, _FLAGS_AT)
    if flags & FLAG_AUTH:
        raise LocalProtocolError("the frame already carries an authentication trailer")
    out = bytearray(frame)
    _LENGTH.pack_into(out, _LENGTH_AT, len(frame) + len(trailer))
    _FLAGS.pack_into(out, _FLAGS_AT, flags | FLAG_AUTH)
    return out


def sign_frame(frame: bytes, token: bytes, key: bytes | None = None) -> bytes:
    """``frame`` with its trailer: the token for a ``Register``, else the tag (``key``, from
    :func:`frame_key`, saves deriving it per frame)."""
    if len(token) != TOKEN_BYTES:
        raise LocalProtocolError(f"a device token is {TOKEN_BYTES} bytes, got {len(token)}")
    if len(frame) > 3 and frame[3] == MessageType.REGISTER:
        out = _with_trailer(frame, token)
        out[len(frame) :] = token
        return bytes(out)
    out = _with_trailer(frame, bytes(TAG_BYTES))
    mac = hmac.digest(key or frame_key(token), memoryview(out)[: len(frame)], "sha256")
    out[len(frame) :] = mac[:TAG_BYTES]
    return bytes(out)


class Authenticated(NamedTuple):
    """A frame with its trailer removed (decodable as an unsigned frame) and what it carried."""

    frame: bytes
    token: bytes | None
    """The token of a signed ``Register``."""
    tag: bytes | None
    """The tag of any other signed frame; check it with :func:`tag_matches`."""
    signed: bytes
    """The bytes the tag covers."""


def strip_auth(data: bytes) -> Authenticated:
    """Split a frame into its plain form and its trailer (``None`` fields when unsigned).

    A flagged frame too short for its trailer is a :class:`RemoteProtocolError`; everything
    else about the frame is left for :func:`~sciot.wire.decode` to check.
    """
    if len(data) < HEADER_BYTES:
        return Authenticated(data, None, None, b"")
    (flags,) = _FLAGS.unpack_from(data, _FLAGS_AT)
    if not flags & FLAG_AUTH:
        return Authenticated(data, None, None, b"")
    size = TOKEN_BYTES if data[3] == MessageType.REGISTER else TAG_BYTES
    if len(data) < HEADER_BYTES + size:
        raise RemoteProtocolError(f"frame too short for its {size}-byte authentication trailer")
    body_end = len(data) - size
    plain = bytearray(data[:body_end])
    _LENGTH.pack_into(plain, _LENGTH_AT, body_end)
    _FLAGS.pack_into(plain, _FLAGS_AT, flags & ~FLAG_AUTH)
    trailer = data[body_end:]
    if size == TOKEN_BYTES:
        return Authenticated(bytes(plain), trailer, None, b"")
    return Authenticated(bytes(plain), None, trailer, data[:body_end])


def tag_matches(signed: bytes, tag: bytes, key: bytes) -> bool:
    """Whether ``tag`` is the frame key's tag of ``signed`` (compared in constant time)."""
    expected = hmac.digest(key, signed, "sha256")[:TAG_BYTES]  # one-shot: OpenSSL's HMAC
    return hmac.compare_digest(expected, tag)


__all__ = [
    "FLAG_AUTH",
    "TAG_BYTES",
    "TOKEN_BYTES",
    "Authenticated",
    "frame_key",
    "sign_frame",
    "strip_auth",
    "tag_matches",
    "token_digest",
]
