# The image of any of the five services, named by SERVICE, with its metrics port as PORT.
# The build context is the repository root, for the shared library:
#   docker build -f deploy/service.Dockerfile --build-arg SERVICE=orders --build-arg PORT=9102 -t kameng/orders .

FROM python:3.11-slim AS build
ARG SERVICE
RUN test -n "$SERVICE" || { echo "--build-arg SERVICE=<inventory|orders|payments|customers|risk> is required" >&2; exit 1; }
# a virtualenv, so that the runtime stage copies exactly what pip installed and no sources
RUN python -m venv /opt/kameng
COPY libs/kameng-common /src/libs/kameng-common
COPY services/${SERVICE} /src/services/${SERVICE}
# Migrations run from inside the installed package (kameng_common.migrations), so a
# wheel that left them out must fail here rather than at the first start.
RUN /opt/kameng/bin/pip install --no-cache-dir /src/libs/kameng-common /src/services/${SERVICE} \
 && /opt/kameng/bin/python -c "import importlib.resources as r; assert r.files('${SERVICE}').joinpath('migrations/env.py').is_file(), '${SERVICE} was installed without its migrations'"

FROM python:3.11-slim
ARG SERVICE
ARG PORT
ENV PATH=/opt/kameng/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    KAMENG_SERVICE=${SERVICE} \
    KAMENG_CONFIG=/app/config.yaml \
    KAMENG_DATA_DIR=/var/lib/kameng
# KAMENG_DATA_DIR is the one place the service may write (SQLite when no database URL is set)
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent kameng \
 && install -d -o kameng -g kameng /var/lib/kameng
COPY --from=build /opt/kameng /opt/kameng
COPY services/${SERVICE}/config.yaml /app/config.yaml
WORKDIR /app
# numeric, so that Kubernetes' runAsNonRoot can verify it
USER 10001
EXPOSE ${PORT}
# exec: the service is the container's process 1 and receives its signals
CMD ["/bin/sh", "-c", "exec python -m \"$KAMENG_SERVICE\" --config /app/config.yaml"]
