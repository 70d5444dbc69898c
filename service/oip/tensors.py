"""Tensor data in and out: JSON arrays, and the binary tensor data extension Triton clients use.

With the extension the body is the JSON header (its length in the `Inference-Header-Content-Length`
header) followed by raw tensor bytes; a tensor sent that way carries `"binary_data_size"` instead of
`"data"`. BYTES elements are each a 4-byte little-endian length and the bytes; FP32 elements are
little-endian IEEE floats, row-major.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from service.errors import ServiceError
from service.oip.schemas import RequestInput

HEADER_LENGTH = "inference-header-content-length"


class InvalidTensor(ServiceError):
    status, code = 422, "invalid_tensor"


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary data after it (empty without the extension)."""
    if header_length is None:
        return body, b""
    try:
        size = int(header_length)
    except ValueError:
        raise InvalidTensor(f"Inference-Header-Content-Length: {header_length!r} is not a number") from None
    if not 0 < size <= len(body):
        raise InvalidTensor(f"Inference-Header-Content-Length: {size} is outside the body of {len(body)} bytes")
    return body[:size], body[size:]


def _flatten(data: list[Any]) -> Iterator[Any]:
    for item in data:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def decode_bytes(raw: bytes, where: str) -> list[bytes]:
    """Split a BYTES tensor's binary data into its elements."""
    elements, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidTensor(f"{where}: binary BYTES data ends inside an element's length")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise InvalidTensor(f"{where}: binary BYTES element of {size} bytes runs past the data")
        elements.append(raw[offset : offset + size])
        offset += size
    return elements


def input_texts(tensor: RequestInput, binary: bytes, offset: int) -> tuple[list[str], int]:
    """The texts of a BYTES input (JSON strings or binary elements); also the binary bytes used."""
    where = f"input {tensor.name!r}"
    if tensor.datatype != "BYTES":
        raise InvalidTensor(f"{where}: datatype must be BYTES (texts), not {tensor.datatype}")
    if any(not isinstance(d, int) or d < 0 for d in tensor.shape):
        raise InvalidTensor(f"{where}: shape must be non-negative integers, not {tensor.shape}")
    size = (tensor.parameters or {}).get("binary_data_size")
    used = 0
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary):
            raise InvalidTensor(f"{where}: binary_data_size {size!r} does not fit the {len(binary)} bytes sent")
        try:
            texts = [e.decode("utf-8") for e in decode_bytes(binary[offset : offset + size], where)]
        except UnicodeDecodeError:
            raise InvalidTensor(f"{where}: an element is not valid UTF-8") from None
        used = size
    elif tensor.data is not None:
        texts = list(_flatten(tensor.data))
        if not all(isinstance(t, str) for t in texts):
            raise InvalidTensor(f"{where}: BYTES data must be JSON strings")
    else:
        raise InvalidTensor(f"{where}: has neither data nor binary_data_size")
    if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
        raise InvalidTensor(f"{where}: shape must be [N] or [N, 1], not {tensor.shape}")
    if math.prod(tensor.shape) != len(texts):
        raise InvalidTensor(f"{where}: shape {tensor.shape} does not match its {len(texts)} elements")
    return texts, used


def encode_bytes(values: list[str]) -> bytes:
    parts = []
    for value in values:
        raw = value.encode("utf-8")
        parts += [struct.pack("<I", len(raw)), raw]
    return b"".join(parts)


def encode_fp32(values: list[float] | list[list[float]]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()
