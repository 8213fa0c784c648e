# shellcheck shell=bash
# Sourced by scripts/bench.sh: HAProxy (the Debian package) as the peer, in pods of bench-plain
# (outside the mesh), each in its own netns:
#   haproxy-relay:     client → relay (node-1) → srv-a (node-1), plain TCP;
#   haproxy-mtls-pair: client → mtls-c (node-1) ==TLS 1.3, mutual certificates==> mtls-s (node-2)
#                      → srv-b (node-2). mtls-c reuses TLS sessions (HAProxy's default), as the
#                      Ferry tunnel resumes with tickets.
# The HTTP port (8080) is proxied in HAProxy's HTTP mode (keep-alive both sides, every request
# parsed), as Ferry's agent does under an HTTPRouteGroup rule; the other ports at L4.

readonly HAPROXY_PORTS="11111 5201 7000 8080"
readonly HAPROXY_SUITES="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"

haproxy_global() {
  # maxconn bounds the fds HAProxy asks for (2 per connection) below the pods' limit.
  printf 'global\n  maxconn 4000\n'
  # The Ferry tunnel's suites (TLS 1.3, AES-GCM only).
  printf '  ssl-default-bind-ciphersuites %s\n  ssl-default-server-ciphersuites %s\n' "$HAPROXY_SUITES" "$HAPROXY_SUITES"
  printf 'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n'
}

haproxy_mode() {  # haproxy_mode PORT -> the listener's mode line
  if [[ "$1" == 8080 ]]; then
    printf '  mode http\n  timeout http-keep-alive 60s\n'
  fi
}

# A throwaway P-256 CA with one server and one client certificate, as HAProxy wants them
# (certificate and key in one PEM).
haproxy_pki() {  # -> $WORK/pki/{ca.pem,server.pem,client.pem}
  local d=$WORK/pki
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=fbench-ca \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || return 1
  local name
  for name in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=fbench-$name" \
      -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null || return 1
    printf 'subjectAltName=DNS:fbench-%s\n' "$name" >"$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
      -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null || return 1
    cat "$d/$name.crt" "$d/$name.key" >"$d/$name.pem"
  done
}

haproxy_deployment() {  # haproxy_deployment NAME NODE CFG
  deployment_yaml bench-plain "$1" "$2" server "exec haproxy -db -f $3"
}

haproxy_apply() {
  local srv_a srv_b mtls_s port
  srv_a=$(pod_ip bench-plain srv-a)
  srv_b=$(pod_ip bench-plain srv-b)
  haproxy_pki || { echo "bench: openssl failed" >&2; return 1; }
  local pki=$WORK/pki
  {
    haproxy_global
    for port in $HAPROXY_PORTS; do
      printf 'listen p%s\n  bind 0.0.0.0:%s\n  server s %s:%s\n' "$port" "$port" "$srv_a" "$port"
      haproxy_mode "$port"
    done
  } >"$WORK/haproxy-relay.cfg"
  {
    haproxy_global
    for port in $HAPROXY_PORTS; do
      printf 'listen p%s\n  bind 0.0.0.0:%s ssl crt %s ca-file %s verify required ssl-min-ver TLSv1.3\n' \
        "$port" "$port" "$pki/server.pem" "$pki/ca.pem"
      printf '  server s %s:%s\n' "$srv_b" "$port"
      haproxy_mode "$port"
    done
  } >"$WORK/haproxy-mtls-s.cfg"
  { haproxy_deployment relay node-1 "$WORK/haproxy-relay.cfg"; echo "---"
    haproxy_deployment mtls-s node-2 "$WORK/haproxy-mtls-s.cfg"; } >"$WORK/haproxy-1.yaml"
  ctl local apply -f "$WORK/haproxy-1.yaml" || return 1
  mtls_s=$(pod_ip bench-plain mtls-s)
  {
    haproxy_global
    for port in $HAPROXY_PORTS; do
      printf 'listen p%s\n  bind 0.0.0.0:%s\n' "$port" "$port"
      printf '  server s %s:%s ssl crt %s ca-file %s verify required verifyhost fbench-server sni str(fbench-server) ssl-min-ver TLSv1.3\n' \
        "$mtls_s" "$port" "$pki/client.pem" "$pki/ca.pem"
      haproxy_mode "$port"
    done
  } >"$WORK/haproxy-mtls-c.cfg"
  haproxy_deployment mtls-c node-1 "$WORK/haproxy-mtls-c.cfg" >"$WORK/haproxy-2.yaml"
  ctl local apply -f "$WORK/haproxy-2.yaml"
}
