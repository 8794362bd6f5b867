# Shared by the real-mode tests: free loopback ports, servers started in the background and
# stopped on exit, waiting on a condition with a bound (never a fixed sleep as a measurement).
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/*.log; do [[ -f $log ]] && { echo "--- $log" >&2; tail -40 "$log" >&2; }; done
  exit 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; false after SECONDS.
wait_for() {
  local seconds=$1; shift
  local tries=$((seconds * 10)) i
  for ((i = 0; i < tries; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# start NAME COMMAND...: starts a server in the background, logging to $work/NAME.out.
start() {
  local name=$1; shift
  "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
  eval "${name}_pid=$!"
}

json_field() {  # json_field FILE KEY
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

mx_api() {  # mx_api HTTP_ENDPOINT PATH [curl args]
  local endpoint=$1 path=$2; shift 2
  curl -sf "$@" "http://$endpoint$path"
}

# A self-signed certificate for NAME: $work/NAME.pem and $work/NAME.key.
make_certificate() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$1.key" -out "$work/$1.pem" \
    -days 30 -subj "/CN=$1" -addext "subjectAltName=DNS:$1" 2>/dev/null
}

# start_postfix LISTEN_PORT NEXTHOP_PORT [MAIN_CF_LINE...]: a private Postfix instance (its own
# configuration, queue, data directory and log under $work) listening on 127.0.0.1:LISTEN_PORT,
# relaying everything from 127.0.0.0/8 to [127.0.0.1]:NEXTHOP_PORT. Stopped on exit. Needs root.
postfix_command() {  # postfix reports on stderr only to a terminal: give it one, so a failure says why
  script -qec "postfix -c $work/postfix $*" /dev/null
}
start_postfix() {
  local listen_port=$1 nexthop_port=$2; shift 2
  [[ $(id -u) -eq 0 ]] || fail "Postfix's master must be started as root"
  mkdir -p "$work/postfix" "$work/postfix-queue" "$work/postfix-data"
  chmod 755 "$work"
  chown postfix "$work/postfix-data"
  {
    cat <<CF
compatibility_level = 3.6
queue_directory = $work/postfix-queue
data_directory = $work/postfix-data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$nexthop_port
smtp_tls_security_level = may
maillog_file = $work/postfix.log
maillog_file_prefixes = $work
alias_maps =
alias_database =
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
CF
    printf '%s\n' "$@"
  } >"$work/postfix/main.cf"
  # Debian's master.cf, with smtpd on our loopback port instead of port 25.
  # POSTFIX_SMTP_CHROOT=n: the SMTP client reads the host's /etc/resolv.conf, not the queue's copy.
  sed -e "s/^smtp      inet.*/127.0.0.1:$listen_port inet n - y - - smtpd/" \
    -e "s/^smtp      unix  -       -       y/smtp      unix  -       -       ${POSTFIX_SMTP_CHROOT:-y}/" \
    /etc/postfix/master.cf >"$work/postfix/master.cf"
  grep -q "^127.0.0.1:$listen_port inet" "$work/postfix/master.cf" || fail "could not rewrite master.cf"
  postfix_command check >"$work/postfix-check.log" 2>&1 || { cat "$work/postfix-check.log" >&2; fail "postfix check"; }
  postfix_command start >"$work/postfix-start.log" 2>&1 || { cat "$work/postfix-start.log" >&2; fail "postfix start"; }
  trap 'postfix_command stop >/dev/null 2>&1; cleanup' EXIT
  wait_for 30 python3 -c "import socket; socket.create_connection(('127.0.0.1', $listen_port), 1)" || fail "Postfix is not listening"
}

# start_dane_resolver DNS_PORT MX_PORT CURRENT_TLSA_DATA STALE_TLSA_DATA [MX_ADDRESS]: Unbound on
# 127.0.0.1:DNS_PORT, a validating resolver whose only trust anchors are the DS records of the
# zones it serves itself (auth-zones for its upstream side: no root, no network). Each zone has an
# MX mx1.<zone> at MX_ADDRESS (127.0.0.1) and a 3 1 1 TLSA record for MX_PORT: dest.example signed, naming
# CURRENT; rotated.example signed, naming STALE; expired.example signed with signatures that
# expired in 2020 (SERVFAIL); plain.example unsigned (insecure). Zones signed with ldnsutils.
start_dane_resolver() {
  local dns_port=$1 mx_port=$2 current=$3 stale=$4 mx_address=${5:-127.0.0.1}
  zone() {
    cat >"$work/$1.zone" <<ZONE
\$ORIGIN $1.
\$TTL 300
@ IN SOA ns.$1. hostmaster.$1. 1 3600 600 86400 300
@ IN NS ns.$1.
ns IN A 127.0.0.1
@ IN MX 10 mx1.$1.
mx1 IN A $mx_address
_$mx_port._tcp.mx1 IN TLSA 3 1 1 $2
ZONE
  }
  # sign NAME [ldns-signzone options]: NAME.zone.signed, and NAME's DS record added to the anchors.
  sign() {
    local name=$1; shift
    (cd "$work" && ldns-keygen -a ECDSAP256SHA256 -k "$name" >"$name.keyname") || fail "ldns-keygen $name"
    local key; key=$(cat "$work/$name.keyname")
    (cd "$work" && ldns-signzone -n "$@" "$name.zone" "$key") || fail "ldns-signzone $name"
    cat "$work/$key.ds" >>"$work/anchors.ds"
  }
  zone dest.example "$current"
  zone rotated.example "$stale"
  zone expired.example "$current"
  zone plain.example "$current"
  sign dest.example
  sign rotated.example
  sign expired.example -i 20200101000000 -e 20200201000000
  {
    cat <<CONF
server:
  interface: 127.0.0.1
  port: $dns_port
  do-daemonize: no
  do-not-query-localhost: no
  username: ""
  chroot: ""
  directory: "$work"
  pidfile: "$work/unbound.pid"
  use-syslog: no
  logfile: "$work/unbound.log"
  verbosity: 1
  val-log-level: 2
  module-config: "validator iterator"
  trust-anchor-file: "$work/anchors.ds"
  root-hints: ""
  access-control: 127.0.0.0/8 allow
CONF
    local name
    for name in dest.example rotated.example expired.example; do
      printf 'auth-zone:\n  name: "%s"\n  zonefile: "%s"\n  for-upstream: yes\n  for-downstream: no\n' \
        "$name" "$work/$name.zone.signed"
    done
    printf 'auth-zone:\n  name: "plain.example"\n  zonefile: "%s"\n  for-upstream: yes\n  for-downstream: no\n' \
      "$work/plain.example.zone"
  } >"$work/unbound.conf"
  unbound-checkconf "$work/unbound.conf" >/dev/null || fail "unbound-checkconf: $(unbound-checkconf "$work/unbound.conf" 2>&1)"
  start unbound unbound -c "$work/unbound.conf"
  wait_for 20 dig @127.0.0.1 -p "$dns_port" +time=1 +tries=1 dest.example SOA || fail "Unbound did not start"
}
