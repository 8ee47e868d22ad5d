#!/usr/bin/env bash
# Self-test of the four test receivers, with the third known-answer vector of
# shared/vectors/signatures.json (evt_1234567890). Starts each receiver on a
# free loopback port, sends correctly and wrongly signed requests with curl,
# checks the HTTP status and the VERIFIED/REJECTED stdout line, then stops it.
# Usage: tests/receivers/selftest.sh   (VECTORS=path/to/signatures.json to override)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"
PYTHON="${PYTHON:-python3}"

VECTORS="${VECTORS:-}"
if [ -z "$VECTORS" ]; then
  for c in "$HERE/../../../shared/vectors/signatures.json" /work/shared/vectors/signatures.json; do
    [ -f "$c" ] && VECTORS="$c" && break
  done
fi
[ -f "$VECTORS" ] || { echo "selftest: signatures.json not found (set VECTORS=...)" >&2; exit 2; }

./install.sh || { echo "selftest: install.sh failed" >&2; exit 2; }

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; }

# --- the vector -------------------------------------------------------------
vec() { "$PYTHON" -c "import json,sys; v=json.load(open(sys.argv[1]))['vectors'][2]; sys.stdout.write(str(v[sys.argv[2]]))" "$VECTORS" "$1"; }
SECRET="$(vec secret)"
WID="$(vec webhook_id)"
WTS="$(vec webhook_timestamp)"
WSIG="$(vec webhook_signature)"
XSIG="$(vec x_brainsait_signature)"
vec body >"$TMP/body.json"
OTHER_SECRET="whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

# hex HMAC-SHA256 of a file, keyed with the secret string's UTF-8 bytes
hexsig() {
  "$PYTHON" -c "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), open(sys.argv[2],'rb').read(), hashlib.sha256).hexdigest())" "$1" "$2"
}
# Standard Webhooks v1 signature: secret, msg id, timestamp, body file
stdsig() {
  "$PYTHON" -c "
import base64,hashlib,hmac,sys
s=sys.argv[1]; s=s[len('whsec_'):] if s.startswith('whsec_') else s
msg=sys.argv[2].encode()+b'.'+sys.argv[3].encode()+b'.'+open(sys.argv[4],'rb').read()
print('v1,'+base64.b64encode(hmac.new(base64.b64decode(s),msg,hashlib.sha256).digest()).decode())" "$@"
}

# the helpers themselves reproduce the vector
[ "$(hexsig "$SECRET" "$TMP/body.json")" = "$XSIG" ] && ok "vector: x_brainsait_signature reproduced" || bad "vector: x_brainsait_signature reproduced"
[ "$(stdsig "$SECRET" "$WID" "$WTS" "$TMP/body.json")" = "$WSIG" ] && ok "vector: webhook_signature reproduced" || bad "vector: webhook_signature reproduced"
WRONG_XSIG="$(hexsig "wrong-secret" "$TMP/body.json")"

# --- receiver plumbing ------------------------------------------------------
# start NAME ENV=VAL... -- CMD...   -> sets PORT_<NAME>
start() {
  local name="$1"; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env PORT=0 "${envs[@]}" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  eval "PID_$name=$pid"
  local i line=""
  for i in $(seq 1 100); do
    line="$(head -n 1 "$TMP/$name.out" 2>/dev/null)"
    case "$line" in LISTENING\ [0-9]*) break ;; esac
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  case "$line" in
    LISTENING\ [0-9]*) eval "PORT_$name=${line#LISTENING }"; ok "$name: first stdout line '$line'" ;;
    *) bad "$name: no LISTENING line (got '$line')"; cat "$TMP/$name.err" >&2; eval "PORT_$name=1" ;;
  esac
}
stop() {
  local pid
  eval "pid=\$PID_$1"
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
verdicts() { grep -cE '^(VERIFIED|REJECTED)' "$TMP/$1.out"; }
last_verdict() { grep -E '^(VERIFIED|REJECTED)' "$TMP/$1.out" | tail -n 1; }

# expect NAME DESC STATUS VERDICT_PREFIX URL_PATH BODY_FILE [curl header args...]
expect() {
  local name="$1" desc="$2" want="$3" want_line="$4" path="$5" body="$6"; shift 6
  local port before got line
  eval "port=\$PORT_$name"
  before="$(verdicts "$name")"
  got="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$@" --data-binary "@$body" "http://127.0.0.1:$port$path")"
  sleep 0.05
  line="$(last_verdict "$name")"
  if [ "$got" = "$want" ] && [ "$(verdicts "$name")" = $((before + 1)) ] && [[ "$line" == "$want_line"* ]]; then
    ok "$name: $desc -> $got, '$line'"
  else
    bad "$name: $desc -> $got (want $want), last verdict '$line' (want '$want_line...', lines $before -> $(verdicts "$name"))"
  fi
}
alive() { local pid; eval "pid=\$PID_$1"; kill -0 "$pid" 2>/dev/null && ok "$1: still running" || bad "$1: process died"; }

JSON=(-H 'Content-Type: application/json')
VERIFIED="VERIFIED $WID"

# a user.created event (the seed calls a handler for it that it never defines)
printf '%s' '{"id":"evt_user_1","event":"user.created","created":"2024-01-15T10:30:00Z","data":{"object":{"id":"usr_1"}},"tenant_id":"company_xyz","api_version":"2024-01-01"}' >"$TMP/user.json"
USER_XSIG="$(hexsig "$SECRET" "$TMP/user.json")"

# --- 1. Express -------------------------------------------------------------
start express "BRAINSAIT_WEBHOOK_SECRET=$SECRET" -- node express/server.js
P=/webhooks/brainsait
expect express "correct signature" 200 "$VERIFIED" $P "$TMP/body.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $XSIG"
expect express "wrong signature" 401 "REJECTED" $P "$TMP/body.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $WRONG_XSIG"
expect express "missing signature header (seed throws)" 500 "REJECTED" $P "$TMP/body.json" "${JSON[@]}"
expect express "short signature (seed throws)" 500 "REJECTED" $P "$TMP/body.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: ${XSIG:0:10}"
alive express
expect express "Content-Type with charset" 200 "$VERIFIED" $P "$TMP/body.json" -H 'Content-Type: application/json; charset=utf-8' -H "X-BrainSAIT-Signature: $XSIG"
expect express "user.created event" 200 "VERIFIED evt_user_1" $P "$TMP/user.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $USER_XSIG"
stop express
# secret rotation: the test restarts the receiver with the new secret
NEW_SECRET="whsec_rotated_secret_for_selftest"
start express "BRAINSAIT_WEBHOOK_SECRET=$NEW_SECRET" -- node express/server.js
expect express "after restart with new secret: old signature" 401 "REJECTED" $P "$TMP/body.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $XSIG"
expect express "after restart with new secret: new signature" 200 "$VERIFIED" $P "$TMP/body.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $(hexsig "$NEW_SECRET" "$TMP/body.json")"
stop express

# --- 2. Flask ---------------------------------------------------------------
start flask "BRAINSAIT_WEBHOOK_SECRET=$SECRET" -- "$PYTHON" flask/app.py
expect flask "correct signature" 200 "$VERIFIED" $P "$TMP/body.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $XSIG"
expect flask "wrong signature" 401 "REJECTED" $P "$TMP/body.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $WRONG_XSIG"
expect flask "missing signature header (seed raises TypeError)" 500 "REJECTED" $P "$TMP/body.json" "${JSON[@]}"
alive flask
expect flask "user.created event" 200 "VERIFIED evt_user_1" $P "$TMP/user.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $USER_XSIG"
stop flask

# --- 3. Next.js round-trip check --------------------------------------------
start nextjs "BRAINSAIT_WEBHOOK_SECRET=$SECRET" -- node nextjs_check.js
expect nextjs "correct signature, round-trips" 200 "$VERIFIED" $P "$TMP/body.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $XSIG"
expect nextjs "wrong signature" 401 "REJECTED invalid-signature" $P "$TMP/body.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $WRONG_XSIG"
expect nextjs "missing signature header" 401 "REJECTED signature-error" $P "$TMP/body.json" "${JSON[@]}"
sed 's/"amount":29999/"amount":29999.0/' "$TMP/body.json" >"$TMP/float.json"
expect nextjs "body that does not survive JSON.parse/stringify" 401 "REJECTED not-round-trip" $P "$TMP/float.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $(hexsig "$SECRET" "$TMP/float.json")"
# the seed's Next.js handler alone would accept this one (its re-serialization is signed)
expect nextjs "signed re-serialized, sent otherwise" 401 "REJECTED not-round-trip" $P "$TMP/float.json" "${JSON[@]}" -H "X-BrainSAIT-Signature: $XSIG"
stop nextjs

# --- 4. Standard Webhooks ---------------------------------------------------
start standard "STANDARD_WEBHOOK_SECRET=$SECRET" -- "$PYTHON" standard_check.py
NOW="$(date +%s)"
GOOD="$(stdsig "$SECRET" "$WID" "$NOW" "$TMP/body.json")"
OTHER="$(stdsig "$OTHER_SECRET" "$WID" "$NOW" "$TMP/body.json")"
H=(-H "webhook-id: $WID" -H "webhook-timestamp: $NOW")
expect standard "fresh correct signature" 200 "$VERIFIED" / "$TMP/body.json" "${JSON[@]}" "${H[@]}" -H "webhook-signature: $GOOD"
expect standard "signature by another secret" 401 "REJECTED" / "$TMP/body.json" "${JSON[@]}" "${H[@]}" -H "webhook-signature: $OTHER"
expect standard "rotation: 'other good'" 200 "$VERIFIED" / "$TMP/body.json" "${JSON[@]}" "${H[@]}" -H "webhook-signature: $OTHER $GOOD"
expect standard "rotation: 'good other'" 200 "$VERIFIED" / "$TMP/body.json" "${JSON[@]}" "${H[@]}" -H "webhook-signature: $GOOD $OTHER"
expect standard "vector's own (2024) timestamp is too old" 401 "REJECTED" / "$TMP/body.json" "${JSON[@]}" -H "webhook-id: $WID" -H "webhook-timestamp: $WTS" -H "webhook-signature: $WSIG"
expect standard "missing headers" 401 "REJECTED" / "$TMP/body.json" "${JSON[@]}"
alive standard
stop standard

echo "receivers selftest: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
