#!/usr/bin/env bash
# Installs everything emoedge needs to build and test on Debian 12
# (bookworm) or Raspberry Pi OS Bookworm that already has rustup + cargo.
#
#   scripts/setup.sh            host build: system libraries, fixture tools,
#                               rustfmt and clippy
#   scripts/setup.sh --cross    also the aarch64 cross kit (gcc, arm64 libc
#                               and ALSA, qemu-user) and the
#                               aarch64-unknown-linux-gnu and
#                               thumbv7em-none-eabihf Rust targets
#   scripts/setup.sh --fuzz     also a nightly toolchain and cargo-fuzz
#
# Idempotent: every step checks first, so a second run installs nothing and
# takes about a second. apt runs through sudo when not root.
set -euo pipefail

cross=0
fuzz=0
for arg in "$@"; do
    case "$arg" in
        --cross) cross=1 ;;
        --fuzz) fuzz=1 ;;
        -h | --help)
            sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "setup.sh: unknown option '$arg' (expected --cross, --fuzz or --help)" >&2
            exit 2
            ;;
    esac
done

say() { printf '[setup] %s\n' "$*"; }
die() {
    printf '[setup] error: %s\n' "$*" >&2
    exit 1
}

# --- privileges -------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo > /dev/null; then
    SUDO=(sudo)
else
    SUDO=()
fi

need_root() {
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        die "installing system packages needs root: run as root or install sudo"
    fi
}

command -v dpkg > /dev/null || die "this script supports Debian-based systems (Debian 12, Raspberry Pi OS Bookworm); install the packages listed in it by hand elsewhere"

host_arch=$(dpkg --print-architecture)

# --- system packages ---------------------------------------------------------
# pkg-config, libasound2-dev: ALSA microphone capture (alsa-sys).
# libclang-dev, clang: bindgen for the V4L2 camera bindings.
# libfontconfig1-dev, fonts-dejavu-core: plotters' font loading for the
#   trainer's charts (font-kit links fontconfig/freetype).
# espeak-ng, sox: synthesise the spoken test fixtures.
# build-essential: C/C++ compiler for cc-built dependencies (and libFuzzer).
packages=(
    build-essential
    pkg-config
    libasound2-dev
    libclang-dev
    clang
    libfontconfig1-dev
    fonts-dejavu-core
    espeak-ng
    sox
)

if [ "$cross" -eq 1 ]; then
    if [ "$host_arch" = arm64 ]; then
        say "host is arm64 (a Raspberry Pi?): native builds need no cross kit, skipping its packages"
    else
        packages+=(
            gcc-aarch64-linux-gnu
            libc6-dev-arm64-cross
            qemu-user
            qemu-user-binfmt
            libasound2-dev:arm64
        )
    fi
fi

# A name without ":arch" means the host's architecture (or "all"); dpkg-query
# lists every installed architecture of a multi-arch package.
is_installed() {
    local name=$1 want=$host_arch
    case "$name" in *:*) want=${name#*:} name=${name%%:*} ;; esac
    dpkg-query -W -f='${Architecture} ${db:Status-Status}\n' "$name" 2> /dev/null \
        | grep -Eq "^($want|all) installed$"
}

missing=()
for p in "${packages[@]}"; do
    is_installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    say "system packages: all present"
else
    need_root
    export DEBIAN_FRONTEND=noninteractive
    if [ "$cross" -eq 1 ] && [ "$host_arch" != arm64 ] \
        && ! dpkg --print-foreign-architectures | grep -qx arm64; then
        say "enabling the arm64 package architecture"
        "${SUDO[@]}" dpkg --add-architecture arm64
    fi
    say "installing: ${missing[*]}"
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q "${missing[@]}"
fi

# --- binfmt_misc --------------------------------------------------------------
# Tests that start a built aarch64 binary as a child process (the device's
# CLI tests) need the kernel to hand aarch64 executables to qemu. Systemd
# does this at boot from qemu-user-binfmt's file; without systemd (containers,
# CI machines) register it here. The registered interpreter uses the
# multiarch arm64 glibc, as scripts/aarch64-runner does.
if [ "$cross" -eq 1 ] && [ "$host_arch" != arm64 ]; then
    binfmt=/proc/sys/fs/binfmt_misc
    conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    if [ ! -e "$binfmt/qemu-aarch64" ] && [ -f "$conf" ]; then
        if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
            say "warning: not root and no sudo: cannot register qemu-aarch64 with binfmt_misc"
        else
            if [ ! -e "$binfmt/register" ]; then
                "${SUDO[@]}" mount -t binfmt_misc binfmt_misc "$binfmt" 2> /dev/null || true
            fi
            if [ -e "$binfmt/register" ]; then
                say "registering qemu-aarch64 with binfmt_misc"
                grep -v '^#' "$conf" | "${SUDO[@]}" tee "$binfmt/register" > /dev/null || true
            fi
        fi
        if [ ! -e "$binfmt/qemu-aarch64" ]; then
            say "warning: qemu-aarch64 is not registered with binfmt_misc; aarch64 tests that start the emoedge binary will fail under qemu"
        fi
    fi
fi

# --- Rust ----------------------------------------------------------------------
if ! command -v rustup > /dev/null && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
command -v rustup > /dev/null || die "rustup not found: install it from https://rustup.rs and re-run"
command -v cargo > /dev/null || die "cargo not found: run 'rustup default stable' and re-run"

installed_components=$(rustup component list --installed 2> /dev/null || true)
for c in rustfmt clippy; do
    if ! grep -q "^$c" <<< "$installed_components"; then
        say "adding rustup component $c"
        rustup component add "$c"
    fi
done

if [ "$cross" -eq 1 ]; then
    installed_targets=$(rustup target list --installed)
    wanted_targets=(thumbv7em-none-eabihf)
    [ "$host_arch" = arm64 ] || wanted_targets+=(aarch64-unknown-linux-gnu)
    for t in "${wanted_targets[@]}"; do
        if ! grep -qx "$t" <<< "$installed_targets"; then
            say "adding rustup target $t"
            rustup target add "$t"
        fi
    done
fi

if [ "$fuzz" -eq 1 ]; then
    if ! rustup run nightly rustc --version > /dev/null 2>&1; then
        say "installing the nightly toolchain (cargo-fuzz needs it for sanitizers)"
        rustup toolchain install nightly --profile minimal
    fi
    if ! cargo fuzz --version > /dev/null 2>&1; then
        say "installing cargo-fuzz from crates.io (a few minutes)"
        cargo install cargo-fuzz --locked
    fi
fi

say "done"
