"""A typed client for the sentiment service: `SentimentClient` (blocking) and `AsyncSentimentClient`.

    from sentiment_client import SentimentClient

    with SentimentClient("http://127.0.0.1:8000", api_key="...") as client:
        print(client.predict("A wonderful, moving film.").label)

Talks HTTP only (httpx); imports nothing of the service, FastAPI or torch.
"""

from sentiment_client._core import RetryEvent, RetryPolicy, __version__
from sentiment_client.aio import AsyncSentimentClient
from sentiment_client.client import SentimentClient
from sentiment_client.errors import (
    AuthenticationError,
    ConnectionFailed,
    InvalidRequest,
    NotFound,
    Overloaded,
    PermissionDenied,
    SentimentError,
    TooLarge,
    Unavailable,
)
from sentiment_client.models import (
    Explanation,
    Feedback,
    ItemError,
    ModelInfo,
    ModelSummary,
    Prediction,
    SentencePrediction,
    TokenWeight,
)

__all__ = [
    "AsyncSentimentClient",
    "AuthenticationError",
    "ConnectionFailed",
    "Explanation",
    "Feedback",
    "InvalidRequest",
    "ItemError",
    "ModelInfo",
    "ModelSummary",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "Prediction",
    "RetryEvent",
    "RetryPolicy",
    "SentencePrediction",
    "SentimentClient",
    "SentimentError",
    "TokenWeight",
    "TooLarge",
    "Unavailable",
    "__version__",
]
