#!/usr/bin/env bash
# `make release`: build the .deb and .rpm, sign each with the update key, and
# write the update manifest (latest.json) the installed apps check on launch.
#
# Environment:
#   TAURI_SIGNING_PRIVATE_KEY            the private key (its text or a file path), from `tauri signer generate`
#   TAURI_SIGNING_PRIVATE_KEY_PASSWORD   its password (empty if none)
#   HOMELINE_UPDATE_PUBKEY               the matching public key (the .pub file's text or path), built into the app
#   HOMELINE_UPDATE_URL                  where latest.json and the packages will be published (https://…/homeline/)
#   HOMELINE_RELEASE_NOTES               optional: what is new, shown in the update banner
#   HOMELINE_RELEASE_OUT                 optional: output folder (default $CARGO_TARGET_DIR/homeline-release)
#   HOMELINE_RELEASE_CONFIG              optional: extra Tauri config (JSON) merged last; tests set `version` here
#   HOMELINE_RELEASE_PROFILE             optional: `release` (default) or `debug`
#   HOMELINE_RELEASE_BUNDLES             optional: `deb,rpm` (default); the tests build `deb` only
#   HOMELINE_RELEASE_SKIP_UI=1           optional: package ui/dist as it is (the tests)
#
# AppImage is not built: its bundler downloads linuxdeploy and friends, which is
# impossible offline. When built elsewhere, put Homeline_*.AppImage and its .sig
# beside the others in the output folder and run again with --manifest-only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/homeline/target}
export CARGO_TARGET_DIR=$TARGET_DIR
OUT=${HOMELINE_RELEASE_OUT:-$TARGET_DIR/homeline-release}
PROFILE=${HOMELINE_RELEASE_PROFILE:-release}
BUNDLES=${HOMELINE_RELEASE_BUNDLES:-deb,rpm}
MANIFEST_ONLY=0
[ "${1:-}" = "--manifest-only" ] && MANIFEST_ONLY=1

die() { echo "release: $*" >&2; exit 1; }
# A value given as a file path is read from the file.
value_of() { if [ -f "$1" ]; then cat "$1"; else printf '%s' "$1"; fi; }

[ -n "${TAURI_SIGNING_PRIVATE_KEY:-}" ] || die "TAURI_SIGNING_PRIVATE_KEY is not set: the packages must be signed (make a key pair once with: ui/node_modules/.bin/tauri signer generate -w ~/.homeline-update.key)"
[ -n "${HOMELINE_UPDATE_PUBKEY:-}" ] || die "HOMELINE_UPDATE_PUBKEY is not set: the app needs the public key to check updates (the .pub file beside your key)"
[ -n "${HOMELINE_UPDATE_URL:-}" ] || die "HOMELINE_UPDATE_URL is not set: say where latest.json and the packages will be published (e.g. https://downloads.example.com/homeline/)"
BASE=${HOMELINE_UPDATE_URL%/}/
TAURI=$ROOT/ui/node_modules/.bin/tauri
[ -x "$TAURI" ] || die "the Tauri CLI is missing: run make setup (it comes with the UI's npm packages)"
TAURI_SIGNING_PRIVATE_KEY=$(value_of "$TAURI_SIGNING_PRIVATE_KEY")
export TAURI_SIGNING_PRIVATE_KEY TAURI_SIGNING_PRIVATE_KEY_PASSWORD=${TAURI_SIGNING_PRIVATE_KEY_PASSWORD:-}
PUBKEY=$(value_of "$HOMELINE_UPDATE_PUBKEY")

# The public key and the endpoint go into this build only, never into the repository.
CONFIG=$(PUBKEY="$PUBKEY" BASE="$BASE" node -e '
  const c = { plugins: { updater: { pubkey: process.env.PUBKEY, endpoints: [process.env.BASE + "latest.json"] } } };
  process.stdout.write(JSON.stringify(c));')
VERSION=$(EXTRA="${HOMELINE_RELEASE_CONFIG:-}" node -e '
  const extra = process.env.EXTRA ? JSON.parse(process.env.EXTRA) : {};
  const base = require("./tauri.conf.json");
  let v = extra.version ?? base.version;
  if (!v) { const m = require("fs").readFileSync("Cargo.toml", "utf8").match(/^version\s*=\s*"([^"]+)"/m); v = m && m[1]; }
  process.stdout.write(String(v));')
[ -n "$VERSION" ] || die "could not tell the version being released"

BUNDLE_DIR=$TARGET_DIR/$PROFILE/bundle
# One build at a time: they share the target folder and the copied config.
mkdir -p "$TARGET_DIR"
exec 9>"$TARGET_DIR/.homeline-release.lock"
flock 9
if [ "$MANIFEST_ONLY" = 0 ]; then
  # The tests reuse ui/dist as `make app` built it: rebuilding it would
  # relink the app (build.rs watches it) for nothing.
  if [ "${HOMELINE_RELEASE_SKIP_UI:-0}" = 1 ] && [ -f ui/dist/index.html ]; then
    echo "==> Using the UI already in ui/dist"
  else
    echo "==> Building the UI"
    (cd ui && npm run --silent build)
  fi
  echo "==> Building Homeline $VERSION ($PROFILE) and its packages ($BUNDLES)"
  rm -f "$BUNDLE_DIR"/deb/*.deb* "$BUNDLE_DIR"/rpm/*.rpm*
  args=(build --ci --bundles "$BUNDLES" --config "$CONFIG")
  [ -n "${HOMELINE_RELEASE_CONFIG:-}" ] && args+=(--config "$HOMELINE_RELEASE_CONFIG")
  [ "$PROFILE" = debug ] && args+=(--debug)
  # The CLI wants tauri.conf.json beside the app's Cargo.toml (src-tauri), and
  # ours is at the root (build.rs points there): for the build, a copy in
  # src-tauri with its paths made relative to it, removed afterwards.
  trap 'rm -f "$ROOT/src-tauri/tauri.conf.json"' EXIT
  node -e '
    const c = require("./tauri.conf.json");
    c.build.frontendDist = "../" + c.build.frontendDist;
    c.bundle.icon = c.bundle.icon.map((p) => "../" + p);
    require("fs").writeFileSync("src-tauri/tauri.conf.json", JSON.stringify(c, null, 2));'
  TAURI_APP_PATH=$ROOT/src-tauri TAURI_FRONTEND_PATH=$ROOT/ui "$TAURI" "${args[@]}"
  rm -f "$ROOT/src-tauri/tauri.conf.json"
  mkdir -p "$OUT"
  rm -f "$OUT"/*.deb "$OUT"/*.rpm "$OUT"/*.sig "$OUT"/latest.json
  for kind in ${BUNDLES//,/ }; do
    compgen -G "$BUNDLE_DIR/$kind/*$VERSION*.$kind.sig" >/dev/null \
      || die "the bundler did not write a signed .$kind for $VERSION (see above)"
    cp "$BUNDLE_DIR/$kind"/*"$VERSION"*."$kind" "$BUNDLE_DIR/$kind"/*"$VERSION"*."$kind".sig "$OUT"/
  done
fi

echo "==> Writing $OUT/latest.json"
# One entry per installer: an app installed from a .deb must get a .deb
# (linux-x86_64 alone would hand every .deb user an AppImage).
OUT="$OUT" BASE="$BASE" VERSION="$VERSION" BUNDLES="$BUNDLES" NOTES="${HOMELINE_RELEASE_NOTES:-}" node -e '
  const fs = require("fs"), path = require("path");
  const { OUT, BASE, VERSION, BUNDLES, NOTES } = process.env;
  // file name pattern -> manifest keys (the plain os-arch key is the fallback
  // for installs whose type is unknown: only a self-replacing bundle may take it)
  const kinds = [
    [/\.deb$/, ["linux-x86_64-deb"]],
    [/\.rpm$/, ["linux-x86_64-rpm"]],
    [/\.AppImage(\.tar\.gz)?$/, ["linux-x86_64-appimage", "linux-x86_64"]],
    [/x64.*\.msi$/, ["windows-x86_64-msi"]],
    [/x64-setup\.exe$/, ["windows-x86_64-nsis", "windows-x86_64"]],
    [/aarch64\.app\.tar\.gz$/, ["darwin-aarch64-app", "darwin-aarch64"]],
    [/x64\.app\.tar\.gz$/, ["darwin-x86_64-app", "darwin-x86_64"]],
  ];
  const platforms = {};
  for (const file of fs.readdirSync(OUT).sort()) {
    if (!file.includes(VERSION) || !fs.existsSync(path.join(OUT, file + ".sig"))) continue;
    const kind = kinds.find(([re]) => re.test(file));
    if (!kind) continue;
    const entry = { signature: fs.readFileSync(path.join(OUT, file + ".sig"), "utf8").trim(), url: BASE + encodeURIComponent(file) };
    for (const key of kind[1]) platforms[key] = entry;
  }
  for (const key of BUNDLES.split(",").map((b) => `linux-x86_64-${b}`)) {
    if (!platforms[key]) { console.error(`release: no signed package for ${key} in ${OUT}`); process.exit(1); }
  }
  const manifest = { version: VERSION, notes: NOTES || `Homeline ${VERSION}`, pub_date: new Date().toISOString().replace(/\.\d+Z$/, "Z"), platforms };
  fs.writeFileSync(path.join(OUT, "latest.json"), JSON.stringify(manifest, null, 2) + "\n");
  for (const [key, e] of Object.entries(platforms)) console.log(`  ${key.padEnd(22)} ${e.url}`);'

for f in "$OUT"/*.deb; do
  echo "==> $(basename "$f"): $(du -k "$f" | cut -f1) KiB; installed size $(dpkg-deb -f "$f" Installed-Size) KiB"
done
echo "Publish everything in $OUT at $BASE (latest.json last, so no app sees a manifest before its packages)."
