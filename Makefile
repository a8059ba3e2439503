# The two commands a newcomer needs: `make demo` and `make test`. Both install what is
# missing first (scripts/setup.sh, Debian 12, as root).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: setup demo test bench build lint

setup:
	@scripts/setup.sh

build: setup
	cargo build --release

demo: build
	$(TARGET_DIR)/release/reelforge demo

test: setup
	scripts/with-services.sh cargo test --workspace

bench: build
	scripts/bench.sh $(TARGET_DIR)/release/reelforge

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
