# CPU image: the reelforge binary on Debian 12 with FFmpeg 5.1's shared libraries.
#   docker build -t reelforge .
#   docker run --rm --user "$(id -u)" -v "$PWD/out:/app/out" reelforge demo
# (it runs as an unprivileged user: --user lets it write to the folder you mount)
# Dockerfile.gpu builds the same binary against the same FFmpeg and only adds what the NVIDIA
# Container Toolkit needs to mount the driver (Debian's FFmpeg 5.1 has NVDEC and NVENC).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      clang libclang-dev pkg-config cmake nasm \
      libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev \
      libavutil-dev libswscale-dev libswresample-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The dependencies first, in a layer of their own: rebuilt only when Cargo.toml or
# Cargo.lock change, not for every change to our sources.
COPY Cargo.toml Cargo.lock ./
COPY media/Cargo.toml media/build.rs media/
RUN mkdir -p src media/src \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs media/src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src media/src
COPY . .
RUN touch src/main.rs src/lib.rs media/src/lib.rs \
    && cargo build --release --locked && strip target/release/reelforge

FROM debian:bookworm-slim
# Only what the binary links (FFmpeg's libavcodec, libavformat, libavutil, libswscale,
# libswresample) and espeak-ng for the offline voice.
RUN apt-get update && apt-get install -y --no-install-recommends \
      libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 \
      espeak-ng ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin reelforge
COPY --from=build /src/target/release/reelforge /usr/local/bin/reelforge
# The character gallery is read from assets/characters/<female|male>/ under the working directory.
COPY --from=build /src/assets /app/assets
WORKDIR /app
RUN mkdir -p /app/data && chown -R reelforge /app/data
USER reelforge
ENV HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 CMD ["reelforge", "healthcheck"]
ENTRYPOINT ["reelforge"]
CMD ["--help"]
