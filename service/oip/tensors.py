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
    # ASCII digits only: int() also takes "1_0_5", " 105" and other scripts' digits.
    if not (header_length.isascii() and header_length.isdigit() and len(header_length) <= 12):
        raise InvalidTensor(f"Inference-Header-Content-Length: {header_length[:40]!r} is not a number of bytes")
    size = int(header_length)
    if not 0 < size <= len(body):
        raise InvalidTensor(f"Inference-Header-Content-Length: {size} is outside the body of {len(body)} bytes")
    return body[:size], body[size:]


def flag(parameters: dict[str, Any] | None, name: str, where: str, default: bool = False) -> bool:
    """A boolean parameter (`binary_data`, `binary_data_output`): JSON true or false, nothing else."""
    value = (parameters or {}).get(name, default)
    if not isinstance(value, bool):
        raise InvalidTensor(f"{where}: parameter {name!r} must be true or false, not {value!r}"[:200])
    return value


def elements(data: list[Any], shape: list[int], where: str) -> list[Any]:
    """The elements of JSON tensor data, flat or nested exactly as `shape` says (row-major)."""
    if all(not isinstance(item, list) for item in data):
        return data  # flat; its length is checked against the shape by the caller

    def walk(node: Any, depth: int) -> Iterator[Any]:
        if depth == len(shape):
            if isinstance(node, list):
                raise InvalidTensor(f"{where}: data is nested deeper than its shape {shape}")
            yield node
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise InvalidTensor(f"{where}: data does not nest as its shape {shape} (dimension {depth})")
        for item in node:
            yield from walk(item, depth + 1)

    return list(walk(data, 0))


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
    if any(d < 0 for d in tensor.shape):
        raise InvalidTensor(f"{where}: shape must be non-negative integers, not {tensor.shape}")
    if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
        raise InvalidTensor(f"{where}: shape must be [N] or [N, 1], not {tensor.shape}")
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
        texts = elements(tensor.data, tensor.shape, where)
        if not all(isinstance(t, str) for t in texts):
            raise InvalidTensor(f"{where}: BYTES data must be JSON strings")
    else:
        raise InvalidTensor(f"{where}: has neither data nor binary_data_size")
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
