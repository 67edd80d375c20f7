# nkpay: the `nkpay` and `nkpay-sandbox` binaries and the built web console, run as a non-root
# user. Plain multi-stage build; docs/deploy.md says how docker-compose.yml uses it. (It is not
# built in this repository's CI, which has no container runtime: .ci/run checks the compose
# file with `docker-compose config` only.)

# 1. The web console (admin-ui/ → admin-ui/dist), from the committed lock file.
FROM node:20-bookworm-slim AS console
WORKDIR /src/admin-ui
COPY admin-ui/package.json admin-ui/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY admin-ui/ ./
RUN npm run build

# 2. The binaries, release profile, from the committed Cargo.lock.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole context (.dockerignore leaves out target/, tests/, docs/, the console): every
# workspace member must be present for cargo to read the workspace.
COPY . .
RUN cargo build --release --locked -p nkpay-server -p nkpay-sandbox --bins

# 3. The runtime: Debian slim, CA certificates (the real gateways are HTTPS), curl for the
#    health check, an unprivileged user owning only /app/data.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin nkpay
WORKDIR /app
COPY --from=build /src/target/release/nkpay /src/target/release/nkpay-sandbox /usr/local/bin/
COPY --from=console /src/admin-ui/dist/ /app/admin-ui/dist/
COPY config/ /app/config/
RUN mkdir -p /app/data && chown nkpay:nkpay /app/data
USER nkpay
ENV NKPAY__SERVER__HOST=0.0.0.0 \
    NKPAY__SERVER__PORT=8080 \
    NKPAY__CONSOLE__DIR=/app/admin-ui/dist
EXPOSE 8080
# Ready = the node answers and reaches its database (/readyz); docker-compose.yml repeats it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
CMD ["nkpay", "serve"]
