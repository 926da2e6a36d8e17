# syntax=docker/dockerfile:1
# td's container image: the pip-installed package in a virtual environment on Python's slim image.
#
#     docker build -t td .
#     docker run --rm -p 8888:8888 td -api=:8888 -temporal=temporal.internal:7233

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/td
# The dependencies first, at the versions and hashes of the lock, so that a change to td's code
# alone reuses this layer.
COPY requirements/runtime.txt /src/requirements/
RUN /opt/td/bin/pip install --require-hashes -r /src/requirements/runtime.txt
COPY pyproject.toml README.md /src/
COPY td /src/td
RUN /opt/td/bin/pip install --no-deps /src


FROM ${PYTHON_IMAGE}

ARG PYTHON_IMAGE
ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="td" \
      org.opencontainers.image.description="Netflix Dispatch's Generic Workflow API and a Temporal worker in one process" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

RUN groupadd --system --gid 10001 td \
    && useradd --system --uid 10001 --gid td --create-home --home-dir /home/td \
        --shell /usr/sbin/nologin td

COPY --from=builder /opt/td /opt/td

ENV PATH=/opt/td/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER td
WORKDIR /home/td
EXPOSE 8888

# The slim image has no curl, so Python's urllib checks GET /healthz. It assumes the default
# port: a container started with another -api port needs its own --health-cmd.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request as r; r.urlopen('http://127.0.0.1:8888/healthz', timeout=4)"]

ENTRYPOINT ["td"]
CMD ["-api=:8888"]
