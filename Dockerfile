# Builds the Nimbus server and dashboard, then runs them on a slim Debian image.
# The image expects an external PostgreSQL (DATABASE_URL); see docker-compose.yml.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/build-web && cargo build --release --locked -p nimbus

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/nimbus nimbus
COPY --from=build /src/target/release/nimbus /usr/local/bin/nimbus
COPY --from=build /src/dist/web /usr/share/nimbus/web
USER nimbus
ENV NIMBUS_LISTEN=0.0.0.0:8080 NIMBUS_WEB_DIR=/usr/share/nimbus/web NIMBUS_LOG_FORMAT=json \
    NIMBUS_DATA_DIR=/var/lib/nimbus
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["/usr/local/bin/nimbus"]
CMD ["serve"]
