# syntax=docker/dockerfile:1
# choreo-controller image: one image for every role (controller, gateway, agent, render, runs).
# Stage 1 builds the wheel of this package and the wheels of its dependencies (all of them ship manylinux
# wheels, so no compiler is needed even there); stage 2 installs only those wheels, offline, into the same
# slim base, removes pip/setuptools/wheel, and runs as a numeric non-root user (so Kubernetes can enforce
# runAsNonRoot). Nothing is written at run time: it works with readOnlyRootFilesystem.
#
# Not built on the development machines (no Docker engine there); tests/integration/test_packaging.py
# builds the same wheel, installs it the same way into a fresh virtualenv and runs the entrypoint, and lints
# this file with hadolint.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m pip install --no-cache-dir pip==25.3
COPY pyproject.toml README.md ./
COPY choreo_controller ./choreo_controller
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG UID=65532
RUN groupadd --gid "${UID}" choreo \
 && useradd --uid "${UID}" --gid choreo --no-create-home --shell /usr/sbin/nologin choreo
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links=/wheels /wheels/choreo_controller-*.whl \
 && rm -rf /wheels \
 && python -m pip uninstall --yes pip setuptools wheel
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER ${UID}:${UID}
# 8080 metrics, 8081 probes (controller); 8443 agents and 8444 internal API (gateway).
EXPOSE 8080 8081 8443 8444
ENTRYPOINT ["choreo-controller"]
CMD ["--help"]
