# syntax=docker/dockerfile:1
# The cruncan image: `docker run cruncan:local api|relay|worker|migrate`.
# Configure it with CRUNCAN_<SECTION>__<KEY> variables (see entrypoints/settings.yaml).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY domain ./domain
COPY ports ./ports
COPY adapters ./adapters
COPY runtime ./runtime
COPY entrypoints ./entrypoints
RUN pip install .

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 cruncan \
    && useradd --system --uid 10001 --gid cruncan --no-create-home --shell /usr/sbin/nologin cruncan
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CRUNCAN_HTTP__HOST=0.0.0.0
USER cruncan
EXPOSE 8099
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CRUNCAN_HTTP__PORT', '8099'), timeout=2)"]
ENTRYPOINT ["cruncan"]
CMD ["api"]
