# SPDX-License-Identifier: Apache-2.0
# kubepulse container image.
#
#   scripts/build-image.sh                       (builds here, without any registry)
#   docker build --build-arg KP_GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t kubepulse .
#
# Stage "build" compiles kubepulse on Debian bookworm, with libcurl built static from Debian's
# source by scripts/build-curl.sh. Stage "rootfs" assembles a
# distroless-style root file system from it: the binary, exactly the shared libraries `ldd`
# reports (with their dpkg status entries and copyright files, so image scanners still see the
# Debian packages), the CA bundle, and an /etc/passwd naming uid 65532. The final image is
# `scratch` plus that tree: no shell, no package manager, nothing the daemon does not load.
# Nothing in it is writable or needs to be; run it with a read-only root file system.

# The base of the build stage. scripts/build-image.sh passes a bookworm image it made with
# debootstrap (localhost/debian:bookworm) because no registry is reachable there.
ARG BASE_IMAGE=docker.io/library/debian:bookworm

FROM ${BASE_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# libcurl for HTTP and HTTPS on OpenSSL only, static, from Debian's curl source at the version
# installed in the same step (README.md, "Dependencies": Debian's libcurl4 loads 26 libraries
# kubepulse never uses). One step, so that a cached layer never pairs an old libcurl4 with a
# source the archive no longer has.
COPY scripts/build-curl.sh /usr/local/bin/build-curl.sh
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates cmake ninja-build gcc libc6-dev pkg-config binutils \
        libcurl4-openssl-dev libjson-c-dev libssl-dev libev-dev libyaml-dev zlib1g-dev \
        autoconf automake libtool make dpkg-dev patch \
    && /usr/local/bin/build-curl.sh /opt/kubepulse/curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The source tree minus what .dockerignore leaves out (git history, build trees, charts, docs).
COPY . .
# .git is not in the build context: the commit comes in as a build argument.
ARG KP_GIT_COMMIT=unknown
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKP_TESTS=OFF \
        -DBUILD_TESTING=OFF -DKP_GIT_COMMIT="${KP_GIT_COMMIT}" -DCMAKE_INSTALL_PREFIX=/usr \
        -DKP_CURL_ROOT=/opt/kubepulse/curl \
    && cmake --build /build \
    && DESTDIR=/staging cmake --install /build --strip \
    && /staging/usr/bin/kubepulse --version

FROM build AS rootfs
COPY scripts/image-rootfs.sh /usr/local/bin/image-rootfs.sh
# libcurl4: its status entry and copyright stand for the curl linked into the binary (same
# source version), so that image scanners and licence checks still see it.
RUN /usr/local/bin/image-rootfs.sh /staging/usr/bin/kubepulse /rootfs libcurl4
# Heapster's manifests run `command: [/heapster, ...]`: the same binary under that name, so that
# they run with only the image changed (docs/migrating-from-heapster.md).
RUN ln -s usr/bin/kubepulse /rootfs/heapster

FROM scratch
COPY --from=rootfs /rootfs/ /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/bin/kubepulse"]
