#!/bin/bash
# Container health: GET /v1/stats on the local HTTP API answers 200.
# Port: $1, else the port of SC_ORIGIN_HTTP_LISTEN / SC_EDGE_HTTP_LISTEN,
# else the sample configs' 8080 (origin) or 8081 (edge). bash's /dev/tcp:
# no curl in the slim image. Docker's --timeout bounds the whole check.
set -u
port=${1:-}
if [ -z "$port" ]; then
  listen=${SC_ORIGIN_HTTP_LISTEN:-${SC_EDGE_HTTP_LISTEN:-}}
  if [ -n "$listen" ]; then
    port=${listen##*:}
  elif grep -qa '^edge' /proc/1/cmdline 2>/dev/null || grep -qa 'bin/edge' /proc/1/cmdline 2>/dev/null; then
    port=8081
  else
    port=8080
  fi
fi
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /v1/stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS=' ' read -r _ status _ <&3 || exit 1
[ "$status" = 200 ]
