# The IdP under gunicorn, as a non-root user with a fixed uid (Kubernetes' runAsNonRoot checks it).
#
# The base is pinned to a Python patch release on a named Debian release, so a rebuild doesn't move
# to another Python or Debian on its own; raise it deliberately (and pin its digest in your own
# registry if you mirror it).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
FROM ${PYTHON_IMAGE}

# gunicorn.conf.py binds to loopback; inside the container gunicorn must listen on the published port.
# GLIBC_TUNABLES: malloc asks for transparent huge pages for its big blocks, so each 19 MiB Argon2id
# check takes about ten page faults instead of ~4,900 (bench/README.md; ignored where THP is off).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=wsgi \
    IDP_ENV=production \
    IDP_INSTANCE_DIR=/srv/idp/instance \
    GUNICORN_CMD_ARGS="--bind=0.0.0.0:8000" \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1

RUN groupadd --system --gid 10001 idp \
    && useradd --system --uid 10001 --gid idp --home-dir /srv/idp --shell /usr/sbin/nologin idp
WORKDIR /srv/idp

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY app ./app
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
COPY translations ./translations
COPY wsgi.py gunicorn.conf.py ./
# The message catalogues are compiled here, as by .ci/setup-env: the repository holds only the .po sources.
RUN pybabel compile --directory translations \
    && mkdir -p instance && chown idp:idp instance

USER 10001:10001
EXPOSE 8000

# Ready means the database (and Redis, when configured) answer. The image has no curl; Python's
# urllib raises on a 503, which fails the check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]

# Production refuses to start without IDP_SECRET_KEY, an https IDP_ISSUER, IDP_DATABASE_URL
# (PostgreSQL; SQLite only with IDP_ALLOW_SQLITE=1) and IDP_SMTP_HOST (docs/configuration.md).
# `flask prepare` migrates the database and ensures signing keys under a database lock, so replicas
# starting together don't race; Kubernetes and Compose run it once as a separate step instead
# (deploy/) and start gunicorn directly. Workers: WEB_CONCURRENCY (gunicorn.conf.py).
CMD ["sh", "-c", "flask prepare && exec gunicorn -c gunicorn.conf.py wsgi:app"]
