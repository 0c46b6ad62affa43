# Installs, when missing, the tools the build and the test suite need. Sourced by scripts/*.
# Every step is skipped when the tool is already there, so repeat runs cost nothing.

say() { printf '==> %s\n' "$*" >&2; }

apt_install() { # PACKAGE...
  if [ "$(id -u)" -ne 0 ]; then
    say "missing: $*; install them (apt-get install $*) and run again"; return 1
  fi
  if [ -z "${ENSURE_TOOLS_APT_UPDATED:-}" ]; then
    apt-get update -qq >&2; export ENSURE_TOOLS_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_postgres() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then return; fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then return; fi
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then return; fi
  say "installing the PostgreSQL server (Debian package postgresql)"
  apt_install postgresql
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown >&2
  fi
}

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
ensure_wasm_bindgen() {
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (a few minutes, once)"
    # Not --locked: one of its locked dependencies is missing from the registry mirror.
    cargo install --quiet wasm-bindgen-cli --version "$want" >&2
  fi
}

ensure_npm_tools() {
  if [ ! -x tools/node_modules/.bin/wasm-opt ] || [ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
      say "installing Node.js and npm (Debian packages)"
      apt_install nodejs npm
    fi
    say "installing the npm build tools (binaryen, swagger-ui-dist)"
    (cd tools && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  fi
}

ensure_sqlx_cli() {
  if ! command -v sqlx >/dev/null 2>&1; then
    say "installing sqlx-cli (a few minutes, once)"
    cargo install --quiet --locked sqlx-cli --version 0.9.0 --no-default-features --features postgres,rustls >&2
  fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    say "installing Chromium and ChromeDriver for the browser tests (Debian packages)"
    apt_install chromium chromium-driver
  fi
}

# The emulators the clouds tests run against (PyPI), pinned: moto for AWS, and
# gcp-storage-emulator for the Cloud Storage bill-export pull.
pip_install() { # PACKAGE==VERSION
  if ! command -v pip3 >/dev/null 2>&1 && ! command -v pip >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  local pip; pip=$(command -v pip3 || command -v pip)
  "$pip" install --quiet "$1" >&2 2>/dev/null \
    || "$pip" install --quiet --break-system-packages "$1" >&2
}

ensure_moto() {
  if ! command -v moto_server >/dev/null 2>&1; then
    say "installing the moto AWS emulator (PyPI moto[server])"
    pip_install 'moto[server]==5.2.1'
  fi
}

ensure_gcs_emulator() {
  if ! command -v gcp-storage-emulator >/dev/null 2>&1; then
    say "installing the Cloud Storage emulator (PyPI gcp-storage-emulator)"
    pip_install 'gcp-storage-emulator==2026.7.19'
  fi
}
