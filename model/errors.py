"""How an exception reads in one line of a log, a status field or an error message."""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 300) -> str:
    """Return "TypeName: first line of the message" (at most `limit` characters of it), or "TypeName".

    Never raises: an exception whose message is empty or blank (many database drivers' faults are)
    reads as its type name alone.
    """
    name = type(exc).__name__
    try:
        message = str(exc).strip()
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the handler that reports it
        return name
    if not message:
        return name
    return f"{name}: {message.splitlines()[0][:limit]}"
