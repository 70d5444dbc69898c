import pytest

from model.errors import first_line


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionError(), "ConnectionError"),
        (ValueError("   \n  "), "ValueError"),
        (ValueError("bad value\nTraceback line"), "ValueError: bad value"),
        (KeyError("k"), "KeyError: 'k'"),
        (Unprintable(), "Unprintable"),
    ],
)
def test_first_line(exc: BaseException, expected: str) -> None:
    assert first_line(exc) == expected


def test_first_line_limits_the_message() -> None:
    assert first_line(ValueError("x" * 50), limit=10) == "ValueError: " + "x" * 10
