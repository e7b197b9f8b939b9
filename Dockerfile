# syntax=docker/dockerfile:1
# One image, one binary: `loginwatch ingest|analyze|forward|sfsim --config FILE`.

# ---- build ----------------------------------------------------------------------------------
FROM rust:1.94-bookworm AS builder
# librdkafka is built from source by rdkafka-sys (bundled): it needs a C toolchain, make and cmake.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p loginwatch \
 && install -m 0755 target/release/loginwatch /usr/local/bin/loginwatch

# ---- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to Salesforce and the SIEMs. curl: the compose health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/loginwatch --create-home loginwatch
COPY --from=builder /usr/local/bin/loginwatch /usr/local/bin/loginwatch
COPY rules /etc/loginwatch/rules
COPY deploy/config /etc/loginwatch
USER loginwatch
WORKDIR /var/lib/loginwatch
# Ops endpoints (/metrics, /healthz, /readyz) of ingester, analyzer, forwarder, sfsim; sfsim's API.
EXPOSE 9101 9102 9103 9104 8080
# tini forwards SIGTERM so the services flush and commit before exiting.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/loginwatch"]
CMD ["--help"]
