#!/usr/bin/env bash
# One-time (and idempotent) set-up for a Debian 12 machine: Debian packages,
# the UI's npm packages, pinned cargo tools. Installs only what is missing,
# so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- Debian packages -------------------------------------------------------
mapfile -t wanted < <(grep -vE '^\s*(#|$)' scripts/debian-packages.txt)
missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  step "Installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Services are started by our harness, never by apt.
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends -o Dpkg::Progress-Fancy=0 \
        -o APT::Status-Fd=1 "${missing[@]}" | grep --line-buffered -E '^(pmstatus|dlstatus|E:)' \
        | awk -F: '{ printf "\r  %3d%% %s                ", $3, substr($4,1,60); fflush() } END { print "" }'
  # grep/awk above only format progress; re-check that everything arrived.
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || { echo "setup: failed to install Debian package '$p' (try: sudo apt-get install $p)" >&2; exit 1; }
  done
else
  echo "Debian packages: all ${#wanted[@]} present"
fi

# --- Node.js (the UI build and the browser test peer) -----------------------
# Vite 8 needs Node.js 20.19 or newer; Debian 12's own nodejs (18) is too old,
# so it is not installed from apt (it would also replace a newer node).
node_major=$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/')
if [ -z "$node_major" ] || [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed to build the UI (found: $(node --version 2>/dev/null || echo none)); install it (e.g. from your distribution's backports or nodejs.org) and run this again." >&2
  exit 1
fi

# --- npm packages for the UI and the browser test peer ---------------------
for dir in ui tests/browser; do
  [ -f "$dir/package-lock.json" ] || continue
  stamp="$dir/node_modules/.homeline-lock-stamp"
  if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "npm ($dir): up to date"
  else
    step "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
done

# --- cargo tools at pinned versions ---------------------------------------
TAURI_DRIVER_VERSION=2.1.0
if ! tauri-driver --help >/dev/null 2>&1 || [ "$(cat "$HOME/.cargo/.tauri-driver-version" 2>/dev/null)" != "$TAURI_DRIVER_VERSION" ]; then
  step "cargo install tauri-driver $TAURI_DRIVER_VERSION"
  cargo install --locked --quiet tauri-driver --version "$TAURI_DRIVER_VERSION"
  echo "$TAURI_DRIVER_VERSION" > "$HOME/.cargo/.tauri-driver-version"
else
  echo "tauri-driver $TAURI_DRIVER_VERSION: present"
fi

# --- Python tools for the call-quality tests (PESQ) --------------------------
# One venv beside the cargo target dir, so CI's fresh clones reuse it; made
# again only when tests/tools/requirements.txt changes. pesq builds a C
# extension from its sdist against numpy and Cython: those go in first, then
# pesq without build isolation. Debian's python3 (python3-venv, python3-dev).
VENV="$(dirname "${CARGO_TARGET_DIR:-/var/cache/homeline/target}")/venv"
REQUIREMENTS=tests/tools/requirements.txt
if [ -x "$VENV/bin/python" ] && cmp -s "$REQUIREMENTS" "$VENV/.homeline-requirements"; then
  echo "Python tools: up to date ($VENV)"
else
  step "Python tools for the quality tests (numpy, pesq) into $VENV"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  /usr/bin/python3 -m venv "$VENV"
  pip=("$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input)
  mapfile -t build_first < <(grep -vE '^\s*(#|$)|^pesq' "$REQUIREMENTS")
  "${pip[@]}" "${build_first[@]}"
  "${pip[@]}" --no-build-isolation -r "$REQUIREMENTS"
  "$VENV/bin/python" -c 'import numpy, pesq' \
    || { echo "setup: the Python tools in $VENV do not import; see the pip output above" >&2; exit 1; }
  cp "$REQUIREMENTS" "$VENV/.homeline-requirements"
fi
