#!/bin/sh
# Installs the prebuilt alpi binary that fits this machine, from a release directory or
# base URL holding alpi-<version>-<target>.tar.gz files and their SHA256SUMS (what
# ci/release writes into dist/).
#
#   sh install.sh [DIST]        DIST: a directory or an http(s) base URL; default
#                               $ALPI_DIST, else the directory this script is in
#
# Plain POSIX sh: it runs under Termux's sh, iSH's busybox ash, Pi OS's dash and macOS.
# Installs to $PREFIX/bin on Termux, else ~/.local/bin. macOS has no prebuilt binary:
# it says how to build from source. Docs: docs/install.md.
set -eu

say() { printf 'install.sh: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }

dist=${1:-${ALPI_DIST:-$(cd "$(dirname "$0")" && pwd)}}
dist=${dist%/}

# --- which machine is this -----------------------------------------------------------
os=$(uname -s)
arch=$(uname -m)
# Termux's shell exports both (the same test as the daemon's service code); looking for
# /data/data/com.termux would also match a PC where a test left that directory.
termux=false
case "${TERMUX_VERSION:-}:${PREFIX:-}" in
  ?*:* | *:/data/data/com.termux/*) termux=true ;;
esac

case "$os" in
  Darwin)
    say "no prebuilt binary for macOS yet; build from source with Rust (https://rustup.rs),"
    say "in a checkout of alpi's source: cargo install --locked --path ."
    exit 1
    ;;
  Linux) ;;
  *) die "no prebuilt binary for $os; build from source: cargo install --locked --path ." ;;
esac

# Every binary is static, so the kernel's CPU is all that matters: a 64-bit kernel under
# a 32-bit userland (32-bit Termux or Pi OS on a 64-bit board) still runs aarch64.
case "$arch" in
  aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
  armv7l | armv7 | armv8l) target=armv7-unknown-linux-gnueabihf ;;
  x86_64 | amd64) target=x86_64-unknown-linux-musl ;;
  i686 | i386) target=i686-unknown-linux-musl ;;
  *) die "no prebuilt binary for $arch (armv6 boards such as the Pi Zero 1 are not built); build from source: cargo install --locked --path ." ;;
esac

if $termux; then
  where="Termux"
  bindir=${PREFIX:-/data/data/com.termux/files/usr}/bin
else
  where="Linux"
  [ -e /proc/ish ] && where="iSH"
  bindir=${HOME:?HOME is not set}/.local/bin
fi
say "$where on $arch: $target"

# --- fetch and verify ----------------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# fetch NAME: copies DIST/NAME into $tmp, from a directory or over http(s).
fetch() {
  case "$dist" in
    http://* | https://*)
      if command -v curl >/dev/null 2>&1; then
        curl -fsSL -o "$tmp/$1" "$dist/$1" || die "could not download $dist/$1"
      elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$tmp/$1" "$dist/$1" || die "could not download $dist/$1"
      else
        die "neither curl nor wget is installed"
      fi
      ;;
    *)
      [ -f "$dist/$1" ] || die "no $1 in $dist (give the release directory or URL as the argument or ALPI_DIST)"
      cp "$dist/$1" "$tmp/$1"
      ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die "neither sha256sum nor shasum is installed: cannot verify the download"
  fi
}

# SHA256SUMS names the release's tarballs, so a URL needs no directory listing.
fetch SHA256SUMS
line=$(grep " \*\{0,1\}alpi-[^ ]*-$target\.tar\.gz\$" "$tmp/SHA256SUMS" | head -n 1)
[ -n "$line" ] || die "the release in $dist has no binary for $target"
want=${line%% *}
tarball=${line##* }
tarball=${tarball#\*}
fetch "$tarball"
got=$(sha256 "$tmp/$tarball")
[ "$got" = "$want" ] || die "$tarball does not match SHA256SUMS (got $got, want $want): not installing it"

# --- install ---------------------------------------------------------------------------
mkdir "$tmp/x"
tar -xzf "$tmp/$tarball" -C "$tmp/x"
bin=$(find "$tmp/x" -type f -name alpi | head -n 1)
[ -n "$bin" ] || die "$tarball holds no alpi binary"
"$bin" --version >/dev/null 2>&1 || die "the $target binary does not run on this machine"

mkdir -p "$bindir"
# Copy next to the old binary, then rename over it: a running alpi keeps its file.
cp "$bin" "$bindir/.alpi.new.$$"
chmod 755 "$bindir/.alpi.new.$$"
mv -f "$bindir/.alpi.new.$$" "$bindir/alpi"
say "installed $("$bindir/alpi" --version) to $bindir/alpi"

case ":${PATH:-}:" in
  *":$bindir:"*) say "next: alpi doctor" ;;
  *)
    say "$bindir is not on your PATH; add it, e.g. to ~/.profile:"
    say "  export PATH=\"$bindir:\$PATH\""
    ;;
esac
