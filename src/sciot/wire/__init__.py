"""The versioned binary frame format shared by every transport (the ``wire`` layer).

Sans-I/O: messages are frozen value types, :func:`encode` / :func:`decode` turn them into and
out of frames, :class:`FrameDecoder` cuts a byte stream into frames. The normative byte layout
is ``docs/wire.md``. Compression is the standard library's zlib (DEFLATE, level 1).
"""

from sciot.wire._auth import (
    FLAG_AUTH,
    TAG_BYTES,
    TOKEN_BYTES,
    Authenticated,
    frame_key,
    sign_frame,
    strip_auth,
    tag_matches,
    token_digest,
)
from sciot.wire._codec import (
    DEFAULT_MAX_FRAME_BYTES,
    FLAG_PROBE,
    HEADER_BYTES,
    VERSION,
    FrameTooLargeError,
    MessageType,
    encode,
)
from sciot.wire._decode import check_prefix, decode
from sciot.wire._header import FrameHeader, peek_header
from sciot.wire._messages import (
    NO_MODEL,
    DeviceOnlyReport,
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    InferRequest,
    InferResponse,
    Message,
    OfflineAck,
    OfflineRecord,
    OfflineReport,
    Register,
    RegisterAck,
    TransferSample,
)
from sciot.wire._notice import FLAG_NEWER_MODEL, announces_newer_model, mark_newer_model
from sciot.wire._stream import FrameDecoder
from sciot.wire._tensor import Tensor, TensorEncoding, dequantise_int8, quantise_int8

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "FLAG_AUTH",
    "FLAG_NEWER_MODEL",
    "FLAG_PROBE",
    "HEADER_BYTES",
    "NO_MODEL",
    "TAG_BYTES",
    "TOKEN_BYTES",
    "VERSION",
    "Authenticated",
    "DeviceOnlyReport",
    "DeviceProfile",
    "ErrorCode",
    "ErrorFrame",
    "FrameDecoder",
    "FrameHeader",
    "FrameTooLargeError",
    "InferRequest",
    "InferResponse",
    "Message",
    "MessageType",
    "OfflineAck",
    "OfflineRecord",
    "OfflineReport",
    "Register",
    "RegisterAck",
    "Tensor",
    "TensorEncoding",
    "TransferSample",
    "announces_newer_model",
    "check_prefix",
    "decode",
    "dequantise_int8",
    "encode",
    "frame_key",
    "mark_newer_model",
    "peek_header",
    "quantise_int8",
    "sign_frame",
    "strip_auth",
    "tag_matches",
    "token_digest",
]
