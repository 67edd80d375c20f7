#!/bin/sh
# Renders deploy/nginx/nginx.conf.template into OUT_DIR/nginx.conf and makes the directories
# nginx writes under its prefix. POSIX sh + awk only, so it runs in the nginx image (compose) and
# on the test machine alike.
#
#   sh deploy/nginx/render.sh OUT_DIR LISTEN UPSTREAM [UPSTREAM ...]
#
# LISTEN: what nginx listens on (8080, or 127.0.0.1:18080). UPSTREAM: one nkpay node,
# host:port (nkpay-1:8080 in compose, 127.0.0.1:18081 in the test).
# Then: nginx -p OUT_DIR -c nginx.conf -e stderr -g 'daemon off;'
set -eu
if [ "$#" -lt 3 ]; then
  echo "usage: render.sh OUT_DIR LISTEN UPSTREAM [UPSTREAM ...]" >&2
  exit 2
fi
out=$1
listen=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
servers=""
for upstream in "$@"; do
  case "$upstream" in
    *:[0-9]*) ;;
    *) echo "render.sh: upstream '$upstream' must be host:port" >&2; exit 2 ;;
  esac
  # A node that failed a request is left alone for 5 s before nginx tries it again.
  servers="${servers}        server ${upstream} max_fails=1 fail_timeout=5s;
"
done
mkdir -p "$out"
for dir in client_body_temp proxy_temp fastcgi_temp uwsgi_temp scgi_temp; do
  mkdir -p "$out/$dir"
done
awk -v listen="$listen" -v servers="$servers" '
  /^@UPSTREAM_SERVERS@$/ { printf "%s", servers; next }
  { gsub(/@LISTEN@/, listen); print }
' "$here/nginx.conf.template" > "$out/nginx.conf.tmp"
mv "$out/nginx.conf.tmp" "$out/nginx.conf"
