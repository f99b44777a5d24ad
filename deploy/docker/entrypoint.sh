#!/bin/sh
# Container entrypoint: "origin ..." or "edge ...". advertise_host defaults
# to this container's address, so replicas of a scaled service (compose
# --scale) each advertise their own; set SC_ORIGIN_ADVERTISE_HOST /
# SC_EDGE_ADVERTISE_HOST to override (e.g. the compose service name).
set -eu
role=${1:-origin}
case "$role" in
  origin) var=SC_ORIGIN_ADVERTISE_HOST ;;
  edge) var=SC_EDGE_ADVERTISE_HOST ;;
  *) exec "$@" ;;
esac
if [ -z "$(printenv "$var" || true)" ]; then
  addr=$(hostname -i 2>/dev/null | cut -d' ' -f1)
  [ -n "$addr" ] && export "$var=$addr"
fi
exec "$@"
