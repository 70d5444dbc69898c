"""Which requests a share of traffic takes: a stable hash of a key, so the answer is sticky."""

from __future__ import annotations

import hashlib


def in_share(key: str, percent: float, salt: str) -> bool:
    """Whether `key` falls in the first `percent` (0-100) of keys, the same every time for the same salt.

    The hash orders keys once per salt: raising the share keeps every key already in it, so a client
    that a 5% canary answered is still answered by it at 10%.
    """
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    digest = hashlib.blake2b(f"{salt}\0{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") * 100 < percent * 2**64
