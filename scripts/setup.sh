#!/usr/bin/env bash
# Installs what reelforge needs on Debian 12 (run as root, or with sudo available):
# FFmpeg 5.1 development libraries, clang for the bindings, cmake and nasm for the vendored
# libjpeg-turbo (photos are decoded and encoded with its SIMD code), fonts, espeak-ng for the offline
# voice, the ffmpeg CLI and vipsthumbnail (tests and benchmarks compare against them),
# headless Chromium and its WebDriver (the console is tested in a real browser), promtool
# (Debian's prometheus package: the alert rules are checked), Caddy (the proxy's
# configuration is validated), and a
# Rust toolchain when none is installed. Quick when everything is already there.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config clang libclang-dev cmake nasm
  libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev
  libavutil-dev libswscale-dev libswresample-dev
  ffmpeg espeak-ng fonts-dejavu-core libvips-tools time
  postgresql ca-certificates curl python3 python3-venv
  chromium chromium-driver prometheus caddy
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root (or sudo) to install: $*" >&2; exit 1; fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# moto's S3-compatible server for the storage tests, in its own virtualenv.
if [ ! -x /opt/reelforge-test-venv/bin/moto_server ]; then
  echo "setup: installing moto (S3 test server) into /opt/reelforge-test-venv"
  as_root python3 -m venv /opt/reelforge-test-venv
  as_root /opt/reelforge-test-venv/bin/pip install -q 'moto[server]'
fi

# Schemathesis (the property-based API tester `make test` runs against `serve`) and
# openapi-spec-validator, pinned, in their own virtualenv.
if ! /opt/reelforge-fuzz-venv/bin/st --version 2>/dev/null | grep -q '4.32.5'; then
  echo "setup: installing schemathesis into /opt/reelforge-fuzz-venv"
  as_root python3 -m venv /opt/reelforge-fuzz-venv
  as_root /opt/reelforge-fuzz-venv/bin/pip install -q 'schemathesis==4.32.5' 'openapi-spec-validator==0.7.1'
fi

# The Compose specification's JSON Schema (as docker-compose 1.29.2 ships it, pinned): the
# deploy test validates docker-compose.yml against it without a Docker engine.
if [ ! -f /opt/reelforge-fuzz-venv/share/compose_spec.json ]; then
  echo "setup: fetching the Compose specification's JSON Schema"
  tmp=$(mktemp -d)
  as_root /opt/reelforge-fuzz-venv/bin/pip download -q --no-deps -d "$tmp" 'docker-compose==1.29.2'
  as_root mkdir -p /opt/reelforge-fuzz-venv/share
  as_root /opt/reelforge-fuzz-venv/bin/python -c "import zipfile,glob,sys; z=zipfile.ZipFile(glob.glob(sys.argv[1]+'/*.whl')[0]); open(sys.argv[2],'wb').write(z.read('compose/config/compose_spec.json'))" "$tmp" /opt/reelforge-fuzz-venv/share/compose_spec.json
  rm -rf "$tmp"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "setup: cargo is in ~/.cargo/bin; add it to PATH (source ~/.cargo/env)"
  else
    echo "setup: installing Rust 1.95 with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95.0
  fi
fi
