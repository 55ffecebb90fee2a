# The Slack bot: `docker build -t expansion . && docker run --env-file .env -p 3000:3000 expansion`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3000 \
    EXPANSION_DB_URL=sqlite:////data/expansion.db

RUN useradd --create-home --uid 10001 expansion \
    && mkdir /data && chown expansion:expansion /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY expansion ./expansion
COPY bot ./bot
RUN pip install ".[postgres]"

USER expansion
VOLUME ["/data"]
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"

CMD ["expansion", "serve"]
