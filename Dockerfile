# The Slack bot: `docker build -t expansion . && docker run --env-file .env -p 3000:3000 expansion`
# The base image is pinned by digest (python:3.11-slim, Python 3.11.16, the multi-platform index)
# and the Python packages by requirements.lock (versions and hashes): the same inputs build the
# same image. Updating both is described in docs/security.md.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3000 \
    EXPANSION_DB_URL=sqlite:////data/expansion.db

RUN useradd --create-home --uid 10001 expansion \
    && mkdir /data && chown expansion:expansion /data

WORKDIR /app
# Dependencies first (their own layer): exactly the locked versions, every file hash-checked.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY expansion ./expansion
COPY bot ./bot
# The project itself: nothing resolved again, built with the locked setuptools.
RUN pip install --no-deps --no-build-isolation . && pip check

USER expansion
VOLUME ["/data"]
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"

CMD ["expansion", "serve"]
