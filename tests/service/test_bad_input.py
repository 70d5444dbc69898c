import pytest
from fastapi.testclient import TestClient

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/sentiment", b'{"text": ""}', 422, "invalid_text"),
        ("/v1/sentiment", b'{"text": "   \\n\\t "}', 422, "invalid_text"),
        ("/v1/sentiment", b'{"text": "' + b"a" * 20_001 + b'"}', 413, "text_too_long"),
        ("/v1/sentiment", b'{"text": 5}', 422, "invalid_request"),
        ("/v1/sentiment", b'{"text": null}', 422, "invalid_request"),
        ("/v1/sentiment", b'{"text": ["a"]}', 422, "invalid_request"),
        ("/v1/sentiment", b'{"txt": "good"}', 422, "invalid_request"),
        ("/v1/sentiment", b'{"text": "good", "extra": 1}', 422, "invalid_request"),
        ("/v1/sentiment", b'{"text": "good", "explain": 0}', 422, "invalid_request"),  # JSON booleans only
        ("/v1/sentiment", b'{"text": "good", "sentences": "yes"}', 422, "invalid_request"),
        ("/v1/sentiment/batch", b'{"texts": ["good"], "explain": 1}', 422, "invalid_request"),
        ("/v1/sentiment", b"[]", 422, "invalid_request"),
        ("/v1/sentiment", b"", 422, "invalid_request"),
        ("/v1/sentiment", b'{"text": "good"', 400, "invalid_json"),
        ("/v1/sentiment", b"\xff\xfe{}", 400, "invalid_json"),
        ("/v1/sentiment", b'{"text": "caf\xe9"}', 400, "invalid_json"),
        ("/v1/sentiment", b'{"text": "nul \\u0000 byte"}', 422, "invalid_text"),
        ("/v1/sentiment", b'{"text": "lone \\ud800 surrogate"}', 422, "invalid_text"),
        ("/v1/sentiment", b'{"text": "' + b"a" * 5_000_000 + b'"}', 413, "body_too_large"),
        ("/v1/sentiment/batch", b'{"texts": []}', 422, "invalid_text"),
        ("/v1/sentiment/batch", b'{"texts": "good"}', 422, "invalid_request"),
        ("/v1/sentiment/batch", b'{"texts": ["good", 3]}', 422, "invalid_request"),
        ("/v1/sentiment/batch", b'{"texts": [' + b",".join([b'"a"'] * 257) + b"]}", 413, "too_large"),
        # Issue 19 item 12: what the json module lets through and this service does not.
        ("/v1/sentiment", b'{"text": "fine", "text": "evil"}', 400, "invalid_json"),  # fast path
        ("/v1/sentiment", b'{"text": "fine", "te\\u0078t": "evil"}', 400, "invalid_json"),  # an escaped key
        ("/v1/sentiment/batch", b'{"texts": ["a"], "texts": ["b"]}', 400, "invalid_json"),
        ("/v1/feedback", b'{"request_id": "x", "label": "positive", "label": "negative"}', 400, "invalid_json"),
        ("/v1/sentiment", b'\xef\xbb\xbf{"text": "good"}', 400, "invalid_json"),
        ("/v1/sentiment", '{"text": "good"}'.encode("utf-16"), 400, "invalid_json"),
        ("/v1/sentiment", '{"text": "good"}'.encode("utf-16-le"), 400, "invalid_json"),
        ("/v1/sentiment", b'{"text": "good", "explain": NaN}', 400, "invalid_json"),
        ("/v1/sentiment", b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
    ],
)
def test_bad_input_gets_a_clear_4xx(client: TestClient, path: str, body: bytes, status: int, code: str) -> None:
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["request_id"] == response.headers["x-request-id"]


def test_wrong_method_and_unknown_path_are_json(client: TestClient) -> None:
    assert client.get("/v1/sentiment").json()["error"]["code"] == "method_not_allowed"
    assert client.get("/nowhere").status_code == 404


def test_chunked_oversized_body_is_refused_without_reading_it_all(client: TestClient) -> None:
    sent = 0

    def chunks():  # type: ignore[no-untyped-def]
        nonlocal sent
        yield b'{"text": "'
        for _ in range(1000):  # up to 10 MB, far over the 2 MB limit
            sent += 1
            yield b"a" * 10_000
        yield b'"}'

    response = client.post("/v1/sentiment", content=chunks(), headers=JSON)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def test_a_duplicate_key_is_named_and_an_escaped_text_still_classifies(client: TestClient) -> None:
    dup = client.post("/v1/sentiment", content=b'{"text": "fine", "text": "evil"}', headers=JSON)
    assert dup.json()["error"]["message"] == "the body is not valid JSON (UTF-8): duplicate key 'text'"
    # A \\u escape in the text only moves the request off the fast path: same answer.
    plain = client.post("/v1/sentiment", content='{"text": "caf\u00e9 good"}'.encode(), headers=JSON).json()
    escaped = client.post("/v1/sentiment", content=b'{"text": "caf\\u00e9 good"}', headers=JSON).json()
    assert escaped["label"] == plain["label"] and escaped["probabilities"] == plain["probabilities"]
