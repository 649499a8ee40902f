# The static Linux targets we ship, how to run each here, and the tools a cross build
# needs. Sourced by cross/build and the ci/ scripts.
# Source it; it sets TARGETS and CHECK_TARGETS and defines the helpers below.

# armv7 (32-bit Pi OS, older phones) is glibc linked statically: stable Rust has no
# downloadable armv7 musl std (docs/building.md#armv7).
TARGETS="x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl armv7-unknown-linux-gnueabihf"

# Targets we only `cargo check` (ci/check-targets): no linker or sysroot here, but their
# cfg'd code paths must compile.
CHECK_TARGETS="aarch64-linux-android aarch64-apple-darwin x86_64-apple-darwin"

# qemu-user runner for a target ("" = runs natively here). The binaries are static,
# so qemu needs no -L sysroot.
runner_for() {
  case "$1" in
    aarch64-*) echo qemu-aarch64 ;;
    i686-*) echo qemu-i386 ;;
    armv7-*) echo qemu-arm ;;
    *) echo "" ;;
  esac
}

# Installs what a fresh Debian machine lacks: the std for every target (shipped and
# checked), qemu-user, file, and the armv7 C toolchain (it links static glibc).
ensure_cross_tools() {
  local missing
  missing=$(comm -13 <(rustup target list --installed | sort) <(tr ' ' '\n' <<<"$TARGETS $CHECK_TARGETS" | sort))
  if [ -n "$missing" ]; then
    rustup target add $missing
  fi
  local pkgs=()
  command -v qemu-arm >/dev/null || pkgs+=(qemu-user)
  command -v file >/dev/null || pkgs+=(file)
  command -v arm-linux-gnueabihf-gcc >/dev/null || pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
  if [ ${#pkgs[@]} -gt 0 ]; then
    apt_install "${pkgs[@]}"
  fi
}

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Path of the release binary for a target.
bin_for() {
  echo "${CARGO_TARGET_DIR:-target}/$1/release/alpi"
}
