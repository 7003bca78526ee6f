# The native server in a container: built with the Rust toolchain, run from a slim Debian that
# holds only the binary and CA certificates, as a non-root user, with its data in a volume.
# docs/deploy-native.md has the commands and the check to run after building.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p edgesync-server --bin edgesync

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --home-dir /data edgesync \
    && mkdir /data && chown edgesync /data
COPY --from=build /src/target/release/edgesync /usr/local/bin/edgesync
USER edgesync
VOLUME /data
# Listen on every interface inside the container; the data directory is the volume.
ENV EDGESYNC_DATA_DIR=/data EDGESYNC_ADDR=0.0.0.0:8787
EXPOSE 8787
# The server drains in-flight requests on SIGTERM, which `docker stop` sends.
STOPSIGNAL SIGTERM
ENTRYPOINT ["edgesync"]
CMD ["serve"]
