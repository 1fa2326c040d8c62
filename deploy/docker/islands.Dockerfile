# syntax=docker/dockerfile:1
# islands: the operator's tool (islands roles, replay, probe, …).
# Build from the repository root (the module is the build context):
#   docker build -f deploy/docker/islands.Dockerfile -t islands/islands:dev .
# The build context leaves out the local world's state and secrets (deploy/docker/islands.Dockerfile.dockerignore).
# Invariants (deploy/docker_test.go checks them): two stages; the binary is static (CGO_ENABLED=0)
# and built -trimpath; the image that runs has nothing but the binary on distroless/static and runs
# as a numeric non-root user, so runAsNonRoot can verify it and readOnlyRootFilesystem costs nothing.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/islands ./cmd/islands

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/islands /usr/local/bin/islands
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/islands"]
