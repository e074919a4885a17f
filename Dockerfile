# Squall: one image, every role (squall server | worker | up | temporal).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/squall ./cmd/squall

FROM debian:bookworm-slim
# python3 runs StackStorm python-script actions; bash, sudo and ca-certificates
# serve shell actions and http-request.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 bash ca-certificates sudo \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/squall squall
COPY --from=build /out/squall /usr/local/bin/squall
COPY packs /opt/squall/packs
ENV SQUALL_DATA_DIR=/var/lib/squall \
    SQUALL_PACKS_PATHS=/opt/squall/packs
USER squall
WORKDIR /var/lib/squall
ENTRYPOINT ["/usr/local/bin/squall"]
CMD ["server"]
