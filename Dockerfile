# The IdP under gunicorn, as a non-root user; migrations run at every start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=wsgi \
    IDP_ENV=production \
    IDP_INSTANCE_DIR=/srv/idp/instance

RUN groupadd --system idp && useradd --system --gid idp --home-dir /srv/idp --shell /usr/sbin/nologin idp
WORKDIR /srv/idp

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY app ./app
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
COPY wsgi.py ./
RUN mkdir -p instance && chown idp:idp instance

USER idp
EXPOSE 8000

# Production needs IDP_SECRET_KEY, IDP_ISSUER (https) and IDP_DATABASE_URL; IDP_REDIS_URL for
# rate limits shared between workers and replicas. Inside the container gunicorn listens on all
# interfaces so the container port can be published; --reuse-port spreads connections over the
# workers (one socket each) instead of letting one worker accept them all.
CMD ["sh", "-c", "flask db upgrade && flask keys ensure && exec gunicorn --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-2} --threads 4 --reuse-port --no-control-socket --forwarded-allow-ips ${FORWARDED_ALLOW_IPS:-127.0.0.1} wsgi:app"]
