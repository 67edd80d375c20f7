# Shared by scripts/start, scripts/test and .ci/run (source it; needs bash): builds the web
# console (admin-ui/ → admin-ui/dist, served by nkpay at /console) when it is missing or older
# than its sources, and installs npm packages when node_modules is missing or older than the
# lock file. Needs Node.js 20+ and npm.

# _npm_ci_if_stale DIR: `npm ci` in DIR unless DIR/node_modules is at least as new as
# DIR/package-lock.json (npm writes node_modules/.package-lock.json on every install).
_npm_ci_if_stale() {
  local dir=$1 stamp="$1/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ] || [ "$dir/package.json" -nt "$stamp" ]; then
    echo "== npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# _need_npm: stop with a clear message when Node.js/npm is not installed.
_need_npm() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "!! npm is not installed: the web console (admin-ui/) needs Node.js 20+ and npm to build." >&2
    return 1
  fi
}

# console_is_stale ROOT: true when ROOT/admin-ui/dist/index.html is missing or older than any
# source of the build.
console_is_stale() {
  local ui="$1/admin-ui" built="$1/admin-ui/dist/index.html"
  [ -f "$built" ] || return 0
  [ -n "$(find "$ui/src" "$ui/public" "$ui/index.html" "$ui/package.json" "$ui/package-lock.json" \
      "$ui/vite.config.ts" "$ui/tsconfig.json" -newer "$built" -print -quit 2>/dev/null)" ]
}

# console_build ROOT: builds ROOT/admin-ui/dist when stale (npm ci first when node_modules is).
console_build() {
  local root=$1
  if console_is_stale "$root"; then
    console_deps "$root" || return 1
    echo "== building the web console (admin-ui/dist)"
    (cd "$root/admin-ui" && npm run --silent build)
  fi
}

# console_deps ROOT: the console's npm packages (admin-ui/node_modules) when stale.
console_deps() {
  _need_npm || return 1
  _npm_ci_if_stale "$1/admin-ui"
}

# console_test_deps ROOT: the browser tests' npm packages (playwright-core) in tests/console.
console_test_deps() {
  _need_npm || return 1
  _npm_ci_if_stale "$1/tests/console"
}
