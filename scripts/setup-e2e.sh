#!/usr/bin/env bash
# Installs what the end-to-end tests need (idempotent): Debian's chromium + ripgrep + kerberos headers, and
# code-server 4.100.3 (VS Code 1.100, the last line on Node 20) with its native modules rebuilt, cached outside the repo.
# code-server is VS Code's real workbench on npm; @vscode/test-electron needs downloads we cannot make. Cache: $PEFT_STUDIO_E2E_CACHE or ~/.cache/peft-studio-e2e.
set -euo pipefail

CODE_SERVER_VERSION="4.100.3"
CACHE="${PEFT_STUDIO_E2E_CACHE:-$HOME/.cache/peft-studio-e2e}"
TOOLS="$CACHE/code-server-$CODE_SERVER_VERSION"
STAMP="$TOOLS/.ready"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

log() { printf '[setup-e2e] %s\n' "$*"; }

# 1. Debian packages: build deps for the native modules, ripgrep (VS Code search), the browser playwright drives.
need=()
for pkg in libkrb5-dev ripgrep chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ -f "$STAMP" ] && [ -f "$TOOLS/node_modules/code-server/out/node/entry.js" ]; then
  log "code-server $CODE_SERVER_VERSION ready in $TOOLS (cached)"
  exit 0
fi

# 2. code-server itself, without its install scripts (they try to download things).
log "installing code-server $CODE_SERVER_VERSION into $TOOLS"
mkdir -p "$TOOLS"
cd "$TOOLS"
[ -f package.json ] || printf '{"name":"peft-studio-e2e-tools","private":true}\n' > package.json
npm install --no-audit --no-fund --ignore-scripts "code-server@$CODE_SERVER_VERSION"

# 3. VS Code's own dependencies, with the native modules rebuilt for this Node.
VSCODE_DIR="$TOOLS/node_modules/code-server/lib/vscode"
cd "$VSCODE_DIR"
npm install --no-audit --no-fund --omit=dev --ignore-scripts
npm_config_yes=true npm rebuild @parcel/watcher @vscode/spdlog kerberos native-watchdog node-pty
ln -sfn node_modules node_modules.asar
mkdir -p node_modules/@vscode/ripgrep/bin
cp /usr/bin/rg node_modules/@vscode/ripgrep/bin/rg

# 4. code-server's password hashing module.
cd "$TOOLS"
npm rebuild argon2

touch "$STAMP"
log "code-server $CODE_SERVER_VERSION ready in $TOOLS"
