# One image for the four Ordersource processes; the command picks the process:
#   python -m command_service.decider   decider       (health, metrics: 8004)
#   python -m command_service           command API   (8001; ops port 8011)
#   python -m projector                 projector     (health, metrics: 8003)
#   python -m query_service             query API     (8002; ops port 8012)
# Settings are ORDERS_* environment variables (docs/configuration.md); no secret is
# baked in. The health checks live in deploy/compose/compose.yaml (the port differs per
# process). Build from the repository root: docker build -t ordersource:local .

# The base image by tag and by its multi-platform index digest (the digest is what is
# pulled; the tag says what it is). Update both together.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3

# -- build: a virtual environment with the four packages and their pinned dependencies --
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/ordersource
ENV PATH=/opt/ordersource/bin:$PATH
WORKDIR /src
COPY constraints.txt ./
COPY shared/ shared/
COPY command-service/ command-service/
COPY query-service/ query-service/
COPY projector/ projector/
# As `make install` does, without the editable mode and the dev tools: every third-party
# package at the version constraints.txt pins (pip also byte-compiles them here).
RUN pip install -c constraints.txt ./shared ./command-service ./query-service ./projector

# -- runtime: the environment alone, run by an unprivileged user -------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/ordersource/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORDERS_STATE_DIR=/var/lib/ordersource
RUN groupadd --system --gid 10001 ordersource \
    && useradd --system --uid 10001 --gid ordersource --no-create-home \
       --home-dir /var/lib/ordersource --shell /usr/sbin/nologin ordersource \
    && install -d -o ordersource -g ordersource -m 0750 /var/lib/ordersource
COPY --from=build /opt/ordersource /opt/ordersource
# The decider's state (one SQLite file per partition) goes here: mount a volume on it.
WORKDIR /var/lib/ordersource
USER 10001:10001
EXPOSE 8001 8002 8003 8004 8011 8012
CMD ["python", "-c", "raise SystemExit('ordersource: choose the process: python -m command_service.decider | command_service | projector | query_service')"]
