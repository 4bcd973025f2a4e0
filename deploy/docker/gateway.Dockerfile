# syntax=docker/dockerfile:1
# hookmesh gateway (gateway/cmd/hookmesh-gateway), as a small static image. Build from the repository root,
# which the Go workspace (go.work) needs as the context:
#   docker build -f deploy/docker/gateway.Dockerfile -t hookmesh/gateway .
# (docker-compose.yml does this.) .dockerignore keeps local state and tools out.

FROM golang:1.26.8-alpine AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local
# Every module's go.mod first: the workspace needs them all, and the download
# layer stays cached until a dependency changes.
COPY go.work go.work.su[m] go.mod go.su[m] ./
COPY gen/go/go.mod gen/go/go.sum gen/go/
COPY platform/go.mod platform/go.sum platform/
COPY gateway/go.mod gateway/go.sum gateway/
COPY gateway/internal/console/browser/go.mod gateway/internal/console/browser/go.sum gateway/internal/console/browser/
COPY services/email/go.mod services/email/go.sum services/email/
COPY services/analytics/go.mod services/analytics/go.sum services/analytics/
COPY services/orders/go.mod services/orders/go.sum services/orders/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY gen/go gen/go
COPY platform platform
COPY gateway gateway
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w" -o /out/hookmesh-gateway ./gateway/cmd/hookmesh-gateway

# distroless static: CA certificates and time zones, no shell, uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hookmesh-gateway /usr/local/bin/hookmesh-gateway
USER nonroot:nonroot
WORKDIR /home/nonroot
EXPOSE 8090 9090
ENTRYPOINT ["/usr/local/bin/hookmesh-gateway"]
