# emoedge tasks. Every task first runs scripts/setup.sh, which installs the
# system packages and Rust components it needs (through sudo when not root)
# and does nothing when they are already there.
#
#   make demo    build the device binary (release) and run its demo
#   make test    run every test of the workspace
#   make lint    rustfmt check and clippy with warnings denied
#   make cross   no_std build for Cortex-M (make mcu), aarch64 cross-build
#                and tests under qemu (make pi-test)
#   make pi      release binary for a 64-bit Raspberry Pi OS
#   make fuzz    run each fuzz target (FUZZ_TARGETS) for FUZZ_SECONDS (default 300)
#   make seeds   rewrite the fuzz seed corpus after a format change
#   make ci      the whole CI job (.ci/run)

SHELL := /bin/bash
# rustup's installer only adds cargo to PATH in new login shells.
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
PI_TARGET := aarch64-unknown-linux-gnu
MCU_TARGET := thumbv7em-none-eabihf
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= model_decode audio_frontend image_frontend

.PHONY: help setup setup-cross setup-fuzz demo test lint cross mcu pi-test pi fuzz seeds ci

help:
	@sed -n '5,13p' Makefile | sed 's/^# \{0,1\}//'

setup:
	scripts/setup.sh

setup-cross:
	scripts/setup.sh --cross

setup-fuzz:
	scripts/setup.sh --fuzz

demo: setup
	$(CARGO) run --release -p emoedge-device --bin emoedge -- demo

test: setup
	$(CARGO) test --workspace

lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p emoedge-shared --all-targets -- -D warnings

cross: mcu pi-test

# The shared core builds without std for a Cortex-M4F/M7 microcontroller.
mcu: setup-cross
	$(CARGO) build -p emoedge-shared --target $(MCU_TARGET) --no-default-features --features defmt

# Tests of the shared core and the device on aarch64 (qemu-user on x86_64).
pi-test: setup-cross
	$(CARGO) test --target $(PI_TARGET) -p emoedge-shared -p emoedge-device

pi: setup-cross
	$(CARGO) build --release --target $(PI_TARGET) -p emoedge-device --bin emoedge
	@echo "copy target/$(PI_TARGET)/release/emoedge to the Pi"

fuzz: setup-fuzz
	set -e; for t in $(FUZZ_TARGETS); do \
		echo "==> fuzzing $$t for $(FUZZ_SECONDS) s"; \
		mkdir -p fuzz/corpus/$$t; \
		$(CARGO) +nightly fuzz run $$t fuzz/corpus/$$t tests/fixtures/fuzz/$$t -- -max_total_time=$(FUZZ_SECONDS); \
	done

seeds:
	$(CARGO) run --manifest-path fuzz/Cargo.toml --example make_seeds

ci:
	.ci/run
