# CI stand-in for the official postgres:15 image (no registry can be reached in CI): Debian's
# postgresql-15 on the local base image, with the same contract docker-compose.scale.yml relies
# on: POSTGRES_USER / POSTGRES_PASSWORD(_FILE) / POSTGRES_DB, data in /var/lib/postgresql/data,
# port 5432 on every interface, pg_isready on PATH.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

# hadolint ignore=DL3066
USER postgres
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
