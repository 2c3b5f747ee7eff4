# The payhooks image: the gateway, the api, the consumer, the sweep and the ops CLI (one console
# script). Built in two stages; the runtime stage gets the locked runtime dependencies (no dev or
# test tooling) in their own layer, then the payhooks wheel, and runs as a non-root user.
#   docker build -t payhooks:0.1.0 .
#   docker run --rm -p 8080:8080 -e PAYHOOKS_KAFKA_BOOTSTRAP=… payhooks:0.1.0 payhooks gateway --host 0.0.0.0

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Dependencies first, from the lock file with its hashes: a code change does not reinstall them.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN python -m venv /opt/payhooks \
    && /opt/payhooks/bin/pip install --require-hashes --no-deps -r /tmp/runtime.txt
# Then payhooks itself, as a wheel (.dockerignore keeps tests, the dev tooling, caches and local
# state out; the wheel holds kernel, schemas, the deployables, operations and the CLI).
WORKDIR /src
COPY . .
RUN /opt/payhooks/bin/pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/payhooks/bin:$PATH \
    PAYHOOKS_LOG_FORMAT=json \
    PAYHOOKS_METRICS_HOST=0.0.0.0
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin payhooks
COPY --from=build /opt/payhooks /opt/payhooks
COPY --from=build /wheels /wheels
RUN /opt/payhooks/bin/pip install --no-cache-dir --no-deps --no-index /wheels/*.whl \
    && rm -rf /wheels
USER 10001:10001
# gateway (public), api (internal), metrics / consumer probes
EXPOSE 8080 8081 9100
# The gateway's by default; set HEALTHCHECK_URL for the api (:8081) or a consumer (:9100).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('HEALTHCHECK_URL', 'http://127.0.0.1:8080/healthz'), timeout=4)"]
CMD ["payhooks", "--help"]
