#!/usr/bin/env bash
# Installs what the dashboard's browser test needs, idempotently:
#   - Debian's Chromium (/usr/bin/chromium) and a font set, via apt-get, only
#     when /usr/bin/chromium is missing;
#   - playwright-core in tests/browser (npm ci from the lock file).
# It never runs `npx playwright install`: that downloads a browser build of
# its own, which CI machines cannot fetch. The test points playwright-core at
# Debian's Chromium with executablePath instead.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
BROWSER_DIR="$ROOT/tests/browser"
LOGS="$ROOT/.harness/logs"
mkdir -p "$LOGS"

log() { echo "browser-deps: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

install_chromium() {
	local sudo=()
	if [[ $(id -u) != 0 ]]; then
		command -v sudo >/dev/null && sudo -n true 2>/dev/null || die "need root or sudo to install chromium"
		sudo=(sudo -n)
	fi
	log "installing chromium (apt)"
	"${sudo[@]}" apt-get update -q >"$LOGS/browser-apt.log" 2>&1 ||
		{ tail -n 20 "$LOGS/browser-apt.log" >&2; die "apt-get update failed"; }
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		chromium fonts-liberation fonts-dejavu-core >>"$LOGS/browser-apt.log" 2>&1 ||
		{ tail -n 30 "$LOGS/browser-apt.log" >&2; die "apt-get install chromium failed"; }
}

if [[ ! -x /usr/bin/chromium ]]; then
	install_chromium
fi
log "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown')"

command -v npm >/dev/null || die "npm not found (Node.js is expected on the machine)"
cd "$BROWSER_DIR"
if [[ -f node_modules/playwright-core/package.json ]] &&
	[[ node_modules/.package-lock.json -nt package-lock.json ]]; then
	log "playwright-core already installed"
	exit 0
fi
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces, playwright-core has no
# install hook today, but a browser download must never be attempted.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [[ -f package-lock.json ]]; then
	npm ci --no-audit --no-fund --loglevel=error >&2
else
	npm install --no-audit --no-fund --loglevel=error >&2
fi
log "playwright-core $(node -p 'require("playwright-core/package.json").version') installed in tests/browser"
