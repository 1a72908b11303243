# attest itself, as a container image (the admission webhook's, or a CI step's).
# Build it with attest, so attest's own image carries signed provenance and an SBOM:
#   attest build -t registry.example/acme/attest:0.1.0 --require-clean .
# BASE must be a Debian 12 image with python3 (the default is Docker Hub's python image);
# attest pins it to a digest before the build and records it in the provenance.
ARG BASE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY oci_attest ./oci_attest
RUN python3 -m venv /opt/attest \
 && /opt/attest/bin/pip install --no-cache-dir --no-compile . \
 && /opt/attest/bin/python -m compileall -q /opt/attest/lib

FROM ${BASE}
# No compilers, no pip in the final stage: the virtualenv comes over, the sources do not.
COPY --from=build /opt/attest /opt/attest
ENV PATH=/opt/attest/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
# A fixed numeric non-root user (runAsNonRoot can check it); nothing is written outside /tmp,
# so the root filesystem can be mounted read-only.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["attest"]
CMD ["--help"]
