# CPU image: the reelforge binary on Debian 12 with FFmpeg 5.1's shared libraries.
#   docker build -t reelforge .
#   docker run --rm -v "$PWD/out:/app/out" reelforge demo
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      clang libclang-dev pkg-config cmake nasm \
      libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev \
      libavutil-dev libswscale-dev libswresample-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/reelforge

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libavcodec59 libavformat59 libavfilter8 libavdevice59 libavutil57 libswscale6 libswresample4 \
      espeak-ng ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/reelforge /usr/local/bin/reelforge
# The character gallery is read from assets/characters/<female|male>/ under the working directory.
COPY --from=build /src/assets /app/assets
WORKDIR /app
ENTRYPOINT ["reelforge"]
CMD ["--help"]
