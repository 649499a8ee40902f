# The musl targets we ship, how to run each here, and the tools a cross build needs.
# Sourced by cross/build and the ci/ scripts.
# Source it; it sets TARGETS and defines the helpers below.

TARGETS="x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl"

# qemu-user runner for a target ("" = runs natively here).
runner_for() {
  case "$1" in
    aarch64-*) echo qemu-aarch64 ;;
    i686-*) echo qemu-i386 ;;
    *) echo "" ;;
  esac
}

# Installs what a fresh Debian machine lacks: the musl std targets, qemu-user, file.
ensure_cross_tools() {
  local missing
  missing=$(comm -13 <(rustup target list --installed | sort) <(tr ' ' '\n' <<<"$TARGETS" | sort))
  if [ -n "$missing" ]; then
    rustup target add $missing
  fi
  local pkgs=()
  command -v qemu-aarch64 >/dev/null || pkgs+=(qemu-user)
  command -v file >/dev/null || pkgs+=(file)
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
  echo "target/$1/release/alpi"
}
