# The sentiment service: CPU-only torch, the shipped model inside, non-root, log on /data.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# Where torch's CPU wheel comes from; empty = pip's own configuration (e.g. PIP_FIND_LINKS).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first (their layer is reused while only the source changes), read from
# pyproject.toml so there is one list; torch pinned to the CPU build.
COPY pyproject.toml ./
RUN PIP_EXTRA_INDEX_URL="$TORCH_INDEX_URL" pip install torch==2.13.0 \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
       > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY model/ model/
COPY training/ training/
COPY service/ service/
COPY pretrained/ pretrained/

RUN useradd --system --uid 10001 --create-home --home-dir /home/app app \
    && mkdir -p /data /models \
    && chown app:app /data /models

ENV SENTIMENT_HOST=0.0.0.0 \
    SENTIMENT_PORT=8000 \
    SENTIMENT_DATABASE_URL=sqlite:////data/requests.db \
    MPLCONFIGDIR=/tmp/matplotlib

USER 10001
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('SENTIMENT_PORT', '8000'), timeout=2)"]

# SIGTERM (docker stop) drains the queue and writes the request log held in memory, then exits 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service"]
