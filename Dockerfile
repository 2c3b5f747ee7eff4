# The payhooks image: the gateway, the consumer and the CLI (one console script).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY payhooks ./payhooks
COPY producer_gateway ./producer_gateway
COPY consumer ./consumer
COPY schemas ./schemas
RUN pip install --upgrade "pip>=25.1" && pip install .
USER nobody
CMD ["payhooks", "--help"]
