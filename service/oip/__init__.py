"""The Open Inference Protocol (KServe v2 REST): health, model metadata and infer with a BYTES input."""

from service.oip.routes import router

__all__ = ["router"]
