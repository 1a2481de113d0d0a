# orgd as a static binary on a distroless base: no shell, no package manager,
# running as an unprivileged user.
#
#   docker build -t orgd --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run -p 8080:8080 orgd        # embedded database, data in /data
#
# In production set MONGODB_URI and ORGD_JWT_SECRET_FILE (see compose.yaml and
# deploy/k8s/orgd.yaml).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/orgd ./cmd/orgd \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orgd /orgd
COPY --from=build --chown=65532:65532 /out/data /data
ENV ORGD_ADDR=:8080 ORGD_ADMIN_ADDR=:9090 ORGD_DATA_DIR=/data
EXPOSE 8080 9090
USER 65532:65532
ENTRYPOINT ["/orgd"]
