# The insession CLI in a container: the same `insession` command that `pip install .` gives on
# a developer machine. Used by docker-compose.yml; CI and developers run without Docker.
# Needs BuildKit (the default builder since Docker 23, and always used by `docker compose`).
FROM python:3.11-slim

LABEL org.opencontainers.image.title="insession" \
      org.opencontainers.image.description="Real-time in-session personalisation engine" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The source is bind-mounted for the install only (read-write so setuptools can write its build
# files, which are thrown away), so no layer keeps the source tree; data never enters the image.
# The pip cache mount makes rebuilds after a code change skip re-downloading the dependencies.
RUN --mount=type=bind,source=.,target=/src,rw \
    --mount=type=cache,target=/root/.cache/pip \
    cd /src && pip install .

# /app is the working directory: relative settings paths (`.insession/...`) land under it, and
# `/app/.insession` exists here so a named volume mounted on it starts owned by this user.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin insession \
    && install -d -o insession -g insession /app /app/.insession

USER insession
WORKDIR /app

CMD ["insession", "--help"]
