# reporter: monitoring and reporting daemon.
#   docker build -t reporter .
#   docker run -p 127.0.0.1:8321:8321 -v reporter-data:/data --env-file reporter.env reporter
# In reporter.env point REPORTER_APP_DATABASE_URL, REPORTER_REDIS_URL and REPORTER_OLLAMA_URL at hosts the
# container can reach (127.0.0.1 is the container itself), and do not set REPORTER_HTTP_HOST=127.0.0.1 there:
# the image listens on 0.0.0.0 inside the container so that -p can reach it.
FROM python:3.11-slim

# WeasyPrint needs Pango (and HarfBuzz subsetting); fonts cover Latin, CJK, Hebrew/Arabic and emoji in reports.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
      fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md settings.example.env ./
COPY reporter ./reporter
COPY templates ./templates
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /data reporter \
 && mkdir -p /data && chown reporter /data

USER reporter
WORKDIR /data
VOLUME ["/data"]
# Inside the container the endpoint must listen on all interfaces for -p to reach it; publish it only on
# the host's loopback (-p 127.0.0.1:8321:8321) unless a token protects it.
# Requests are answered for localhost and IP addresses; list any other name clients use (e.g. the compose
# service name Prometheus scrapes) in REPORTER_ALLOWED_HOSTS.
ENV REPORTER_HTTP_HOST=0.0.0.0 \
    REPORTER_HTTP_PORT=8321 \
    REPORTER_HISTORY_URL=sqlite:////data/history.db \
    PYTHONUNBUFFERED=1
EXPOSE 8321
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, sys, urllib.request; port = os.environ.get('REPORTER_HTTP_PORT', '8321'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"
# umask 027: reports, CSV files and the history are readable by the reporter group, not by everyone
# (the files honour the umask as any program's do; the history holds user e-mails and activity)
ENTRYPOINT ["/bin/sh", "-c", "umask 027 && exec reporter \"$@\"", "reporter"]
CMD ["run"]
