# syntax=docker/dockerfile:1
# The cruncan image: `docker run cruncan:local api|relay|worker|migrate`.
# Configure it with CRUNCAN_<SECTION>__<KEY> variables (see entrypoints/settings.yaml).
#
# The base is pinned by digest (python:3.11.9-slim-bookworm, linux/amd64 and arm64 index); move the tag
# and digest together. Dependencies install only from requirements.lock, every file checked against its
# hash; psycopg2 is compiled against libpq in the build stage, and the runtime stage carries libpq5 only.

ARG PYTHON_IMAGE=python:3.11.9-slim-bookworm@sha256:dad770592ab3582ab2dabcf0e18a863df9d86bd9d23efcfa614110ce49ac20e4

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements.lock ./
RUN pip install --require-hashes --no-binary psycopg2 --requirement requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY domain ./domain
COPY ports ./ports
COPY adapters ./adapters
COPY runtime ./runtime
COPY entrypoints ./entrypoints
# The project itself: its dependencies are all in place already.
RUN pip install --no-deps .

FROM ${PYTHON_IMAGE}
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 cruncan \
    && useradd --system --uid 10001 --gid cruncan --no-create-home --shell /usr/sbin/nologin cruncan
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CRUNCAN_HTTP__HOST=0.0.0.0 \
    CRUNCAN_WORKER__HEALTH__HOST=0.0.0.0
USER cruncan
EXPOSE 8099 8096
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CRUNCAN_HTTP__PORT', '8099'), timeout=2)"]
ENTRYPOINT ["cruncan"]
CMD ["api"]
