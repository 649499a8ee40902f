# Shared by the deploy/*/demo scripts: each "device" is a fresh HOME under one temp
# directory, the model is the tests' fake LLM on loopback, and everything started is
# stopped again on exit. Source it from a demo run at the repo root with `alpi` on PATH.
set -euo pipefail

command -v alpi >/dev/null || { echo "demo: put alpi on PATH first (cargo install --path .)" >&2; exit 2; }
DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/alpi-demo.XXXXXX")
DEMO_DEVICES=()
FAKE_LLM_PID=
FAKE_LLM_PORT=
DEMO_FAILED=0

demo_cleanup() {
    local d
    for d in "${DEMO_DEVICES[@]}"; do
        HOME="$DEMO_DIR/$d" ALPI_HOME= alpi daemon stop >/dev/null 2>&1 || true
    done
    [ -n "$FAKE_LLM_PID" ] && kill "$FAKE_LLM_PID" 2>/dev/null || true
    rm -rf "$DEMO_DIR"
}
trap demo_cleanup EXIT

say() { printf '\n%s\n' "$*"; }

# on DEVICE CMD…: run CMD with DEVICE's HOME (and no inherited profile selection).
on() {
    local device=$1
    shift
    HOME="$DEMO_DIR/$device" env -u ALPI_HOME -u ALPI_PROFILE "$@"
}

# check "what" CMD…: CMD must succeed; its output is shown indented.
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        printf '  ok    %s\n' "$what"
        [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/        /'
        return 0
    fi
    printf '  FAIL  %s\n%s\n' "$what" "$out" | sed '2,$s/^/        /'
    DEMO_FAILED=1
}

# refused "what" PATTERN CMD…: CMD must fail, saying something matching PATTERN.
refused() {
    local what=$1 pattern=$2 out
    shift 2
    if out=$("$@" 2>&1); then
        printf '  FAIL  %s: it was allowed\n%s\n' "$what" "$out"
        DEMO_FAILED=1
    elif grep -qE -- "$pattern" <<<"$out"; then
        printf '  ok    %s (refused: %s)\n' "$what" "$(grep -m1 -E -- "$pattern" <<<"$out" | cut -c1-110)"
    else
        printf '  FAIL  %s: refused, but not with /%s/:\n%s\n' "$what" "$pattern" "$out"
        DEMO_FAILED=1
    fi
}

# contains "what" PATTERN TEXT: TEXT must match PATTERN (an extended regex).
contains() { found -E "$@"; }

# contains_text "what" STRING TEXT: TEXT must hold STRING as it is (keys hold + and /).
contains_text() { found -F "$@"; }

found() {
    local how=$1
    shift
    if grep -q "$how" -- "$2" <<<"$3"; then
        printf '  ok    %s\n' "$1"
    else
        printf '  FAIL  %s: no /%s/ in:\n%s\n' "$1" "$2" "$3"
        DEMO_FAILED=1
    fi
}

# lacks "what" TEXT_FILES…: no file under the paths contains SECRET ($SECRET).
lacks() {
    local what=$1 hits
    shift
    if hits=$(grep -rlF -- "$SECRET" "$@" 2>/dev/null); then
        printf '  FAIL  %s: found in\n%s\n' "$what" "$hits"
        DEMO_FAILED=1
    else
        printf '  ok    %s\n' "$what"
    fi
}

demo_done() {
    if [ "$DEMO_FAILED" = 0 ]; then
        say "demo passed: $1"
    else
        say "demo FAILED: $1"
        exit 1
    fi
}

# The tests' fake model (examples/fake_llm.rs): echoes, or calls a tool on `TOOL name {…}`.
start_fake_llm() {
    local bin=${ALPI_FAKE_LLM:-target/debug/examples/fake_llm}
    [ -x "$bin" ] || cargo build --quiet --example fake_llm
    "$bin" >"$DEMO_DIR/fake_llm.port" &
    FAKE_LLM_PID=$!
    local i
    for i in $(seq 100); do
        [ -s "$DEMO_DIR/fake_llm.port" ] && break
        sleep 0.05
    done
    FAKE_LLM_PORT=$(cat "$DEMO_DIR/fake_llm.port")
    [ -n "$FAKE_LLM_PORT" ] || { echo "demo: the fake LLM did not start" >&2; exit 1; }
}

# device NAME: a fresh HOME for one machine.
device() {
    mkdir -p "$DEMO_DIR/$1"
    DEMO_DEVICES+=("$1")
}

# home_of DEVICE [PROFILE]: the profile's directory on that device.
home_of() {
    local profile=${2:-default}
    if [ "$profile" = default ]; then
        echo "$DEMO_DIR/$1/.alpi"
    else
        echo "$DEMO_DIR/$1/.alpi/profiles/$profile"
    fi
}

# with_model DEVICE [PROFILE]: point the profile at the fake model, the way a user would.
with_model() {
    local profile=${2:-default}
    local p=(-p "$profile")
    [ "$profile" = default ] || on "$1" alpi profile create "$profile" >/dev/null 2>&1 || true
    on "$1" alpi "${p[@]}" setup model --provider custom --name fake --model demo \
        --base-url "http://127.0.0.1:$FAKE_LLM_PORT/v1" --key-env FAKE_KEY >/dev/null
    echo "demo-key" | on "$1" alpi "${p[@]}" setup key FAKE_KEY >/dev/null
    mkdir -p "$DEMO_DIR/$1/work-$profile"
    on "$1" alpi "${p[@]}" setup workspace "$DEMO_DIR/$1/work-$profile" >/dev/null
}

# listen_on DEVICE PORT [PROFILE]: ALP.2 on 127.0.0.1:PORT (a real device would use its
# Tailscale or LAN address here).
listen_on() {
    local config
    config="$(home_of "$1" "${3:-default}")/config.yaml"
    printf 'network:\n  host: 127.0.0.1\nalp:\n  tcp_port: %s\n' "$2" >>"$config"
}

# free_port VAR: sets VAR to a loopback port nothing listens on now, counting up from
# ALPI_DEMO_PORT_BASE (below the kernel's ephemeral range, so no client socket takes it).
DEMO_NEXT_PORT=${ALPI_DEMO_PORT_BASE:-$((20000 + RANDOM % 100 * 100))}
free_port() {
    while (exec 3<>"/dev/tcp/127.0.0.1/$DEMO_NEXT_PORT") 2>/dev/null; do
        DEMO_NEXT_PORT=$((DEMO_NEXT_PORT + 1))
    done
    printf -v "$1" '%s' "$DEMO_NEXT_PORT"
    DEMO_NEXT_PORT=$((DEMO_NEXT_PORT + 1))
}

# key_of DEVICE [PROFILE]: the profile's 44-character identity.
key_of() {
    on "$1" alpi -p "${2:-default}" peers key
}

# pin DEVICE PROFILE ID PUBKEY ALLOW [ADDRESS]
pin() {
    local args=(peers add "$3" "$4" --allow "$5")
    [ -n "${6:-}" ] && args+=(--address "$6")
    local out
    out=$(on "$1" alpi -p "$2" "${args[@]}" 2>&1) || { echo "$out" >&2; return 1; }
}

# start_daemon DEVICE: the daemon for every profile on that device (returns once ready).
start_daemon() {
    on "$1" alpi daemon start >/dev/null
}
