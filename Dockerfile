# Two images from one file, sharing the base and its dependency layer:
#   docker build -t sentiment-service:latest .                  serve (default): ONNX Runtime, no torch
#   docker build --target train -t sentiment-service:train .     + CPU-only torch, training/, word vectors
# Both serve the shipped model as uid 10001 with the request log on /data; the train image also
# runs `python -m training` (and SENTIMENT_RUNTIME=torch).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- requirements: the two lists, read from pyproject.toml so there is one list ----------------
# Only these files reach the stages below, so an edit elsewhere in pyproject.toml (dev tools,
# lint settings) does not reinstall the dependencies.
FROM ${BASE_IMAGE} AS requirements
COPY pyproject.toml requirements/lock.txt /tmp/
RUN python -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; extra = p['optional-dependencies']; open('/tmp/serve.txt', 'w').write('\n'.join(p['dependencies'] + extra['postgres']) + '\n'); open('/tmp/train.txt', 'w').write('\n'.join(extra['train']) + '\n')"

# ---- base: the serving dependencies (pyproject's dependencies + the postgres extra), the user --
FROM ${BASE_IMAGE} AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first (their layer is reused while only the source changes). Deleted in the same
# layer, as nothing here reads them (~125 MB): onnx's backend test models, numpy's tests, ONNX
# Runtime's model-optimisation tools, and Bling Fire's tokenizer models and Windows/macOS builds
# (sentence splitting needs only its Linux library).
# Every version from requirements/lock.txt (constraints), so a rebuild installs what CI tested.
COPY --from=requirements /tmp/serve.txt /tmp/lock.txt /tmp/
RUN pip install --requirement /tmp/serve.txt --constraint /tmp/lock.txt \
    && rm /tmp/serve.txt /tmp/lock.txt \
    && site=$(python -c "import os, numpy; print(os.path.dirname(os.path.dirname(numpy.__file__)))") \
    && rm -rf "$site/onnx/backend/test/data" "$site/onnxruntime/transformers" "$site/onnxruntime/quantization" \
    && rm -f "$site"/blingfire/*.bin "$site"/blingfire/*.i2w "$site"/blingfire/*.dll "$site"/blingfire/*.pdb \
       "$site"/blingfire/*.dylib \
    && find "$site/numpy" -depth -type d -name tests -exec rm -rf {} +

RUN useradd --system --uid 10001 --create-home --home-dir /home/app app \
    && mkdir -p /data /models \
    && chown app:app /data /models

ENV SENTIMENT_HOST=0.0.0.0 \
    SENTIMENT_PORT=8000 \
    SENTIMENT_DATABASE_URL=sqlite:////data/requests.db

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('SENTIMENT_PORT', '8000'), timeout=2)"]
# SIGTERM (docker stop) drains the queue and writes the request log held in memory, then exits 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service"]

# ---- train: + torch (CPU build) and the train extra, the training code and word vectors --------
FROM base AS train

# Where torch's CPU wheel comes from; empty = pip's own configuration (e.g. PIP_FIND_LINKS).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

COPY --from=requirements /tmp/train.txt /tmp/lock.txt /tmp/
RUN grep '^torch==' /tmp/train.txt > /tmp/torch.txt \
    && PIP_EXTRA_INDEX_URL="$TORCH_INDEX_URL" pip install --requirement /tmp/torch.txt --constraint /tmp/lock.txt \
    && pip install --requirement /tmp/train.txt --constraint /tmp/lock.txt \
    && rm /tmp/train.txt /tmp/torch.txt /tmp/lock.txt

COPY model/ model/
COPY service/ service/
COPY training/ training/
COPY pretrained/ pretrained/

ENV MPLCONFIGDIR=/tmp/matplotlib
USER 10001
VOLUME ["/data", "/models"]

# ---- serve (the default target): the service and the shipped model, no torch ------------------
FROM base AS serve

COPY model/ model/
COPY service/ service/

USER 10001
VOLUME ["/data"]
