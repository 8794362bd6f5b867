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
  local tries=$((seconds * 10))
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
