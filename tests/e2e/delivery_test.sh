#!/usr/bin/env bash
# Delivery guarantees with the real binaries on 127.0.0.1 (issue 4):
#   - collector unreachable for the whole run, then started: everything arrives
#   - kill -9 of the agent mid-send, restart: every event exactly once
#   - kill -9 of the collector under load, restart: every event exactly once
#   - spool smaller than the input: integrity.spool_loss with the right count
#   - spool truncated mid-record and a flipped byte: the agent starts, says
#     what it dropped, sends the rest
#   - wrong collector name: nothing is sent
# Load comes from --synthetic-events (a test event source feeding the same
# EventSink as captures; signing, spool and uplink are the real ones).
#   delivery_test.sh COLLECTOR AGENT VAGTCTL SOURCE_DIR
set -uo pipefail
collector=$1 agent=$2 vagtctl=$3 src=$4
work=$(mktemp -d)
collector_pid= agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
  [ -n "$collector_pid" ] && kill -9 "$collector_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
check() { # description, command...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
db=$work/collector.db
sql() { sqlite3 -cmd ".timeout 5000" "file:$db?mode=ro" "$1" 2>/dev/null; }
count() { sql "SELECT COUNT(*) FROM events WHERE agent_id = '$1'"; }
# Exactly once: as many rows as distinct sequences, dense from 0.
exactly_once() { # agent expected
  local row; row=$(sql "SELECT COUNT(*), COUNT(DISTINCT sequence), COALESCE(MAX(sequence)+1,0) FROM events WHERE agent_id = '$1'")
  [ "$row" = "$2|$2|$2" ] || { echo "     events of $1: count|distinct|max+1 = $row, expected $2"; return 1; }
}
findings() { # agent rule
  sql "SELECT COUNT(*) FROM breaches WHERE kind = 'integrity' AND agent_id = '$1' AND rule_id LIKE '$2'"
}

"$src/tests/certs/gen.sh" "$work/pki" a-down a-kill a-ckill a-small a-torn a-name >/dev/null || exit 1
# The collector admits enrolled agents only.
for a in a-down a-kill a-ckill a-small a-torn a-name; do
  "$vagtctl" agents enroll --db "$db" --id "$a" --cert "$work/pki/$a.pem" >/dev/null || exit 1
done
cat > "$work/collector.yaml" <<YAML
listen: {address: 127.0.0.1, port: PORT}
tls: {ca: $work/pki/ca.pem, cert: $work/pki/collector.pem, key: $work/pki/collector.key}
policy: $src/policies/example.yaml
store: {engine: sqlite, path: $db}
threads: 2
YAML
start_collector() { # port
  sed "s/PORT/$1/" "$work/collector.yaml" > "$work/collector.run.yaml"
  rm -f "$work/port"
  "$collector" --config "$work/collector.run.yaml" --port-file "$work/port" 2>> "$work/collector.log" &
  collector_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  port=$(cat "$work/port" 2>/dev/null)
}
stop_collector() { kill "$collector_pid" 2>/dev/null; wait "$collector_pid" 2>/dev/null; collector_pid=; }
start_collector 0
check "collector starts" test -n "$port"
stop_collector

agent_yaml() { # name [extra yaml lines...]
  local name=$1; shift
  cat <<YAML
collector:
  endpoints: ["127.0.0.1:$port"]
  server_name: ${SERVER_NAME:-vagt-collector}
  connect_timeout_ms: 2000
  ack_timeout_ms: 5000
  backoff_initial_ms: 100
  backoff_max_ms: 800
tls: {ca: $work/pki/ca.pem, cert: $work/pki/$name.pem, key: $work/pki/$name.key}
pseudonym_key: $work/pki/pseudonym.key
state_dir: $work/state-$name
batch: {max_events: 50, max_delay_ms: 100}
heartbeat_interval_s: 1
YAML
  printf '%s\n' "$@"
}
wait_for() { # seconds command...
  local n=$(($1 * 10)); shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
  return 1
}
has_events() { [ "$(count "$1")" -gt "${2:-0}" ] 2>/dev/null; }

# 1. Collector down for the whole input, then started.
agent_yaml a-down > "$work/a-down.yaml"
"$agent" --config "$work/a-down.yaml" run --synthetic-events 3000 2> "$work/a-down.log" &
agent_pid=$!
sleep 2
start_collector "$port"
wait "$agent_pid"; rc=$?; agent_pid=
check "down collector: agent exits 0 once the late collector acked everything" test "$rc" -eq 0
check "down collector: all 3000 events stored exactly once" exactly_once a-down 3000
check "down collector: chain intact (no integrity finding)" test "$(findings a-down '%')" -eq 0

# 2. kill -9 of the agent mid-send, then restart.
agent_yaml a-kill > "$work/a-kill.yaml"
"$agent" --config "$work/a-kill.yaml" run --synthetic-events 20000 2> "$work/a-kill.log" &
agent_pid=$!
# Kill once every event is spooled (the source has finished and the batch
# delay has passed) but not yet all acked: events still in memory are not
# promised anything.
spooled() { grep -q "a-kill: 20000 events" "$work/a-kill.log" && has_events a-kill 0; }
wait_for 30 spooled
sleep 0.3
kill -9 "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=
partial=$(count a-kill)
check "agent killed mid-send ($partial of 20000 stored)" test "$partial" -lt 20000
"$agent" --config "$work/a-kill.yaml" run --synthetic-events 1 2> "$work/a-kill2.log"
check "restarted agent exits 0" test $? -eq 0
check "after kill -9 of the agent: 20001 events exactly once" exactly_once a-kill 20001
check "after kill -9 of the agent: no integrity finding" test "$(findings a-kill '%')" -eq 0

# 3. kill -9 of the collector under load, then restart.
agent_yaml a-ckill > "$work/a-ckill.yaml"
"$agent" --config "$work/a-ckill.yaml" run --synthetic-events 20000 2> "$work/a-ckill.log" &
agent_pid=$!
wait_for 30 has_events a-ckill 0
sleep 0.3
kill -9 "$collector_pid"; wait "$collector_pid" 2>/dev/null; collector_pid=
partial=$(count a-ckill)
sleep 1
start_collector "$port"
wait "$agent_pid"; rc=$?; agent_pid=
check "collector killed under load ($partial of 20000 stored); agent exits 0" test "$rc" -eq 0
check "after kill -9 of the collector: 20000 events exactly once" exactly_once a-ckill 20000
check "after kill -9 of the collector: no integrity finding" test "$(findings a-ckill '%')" -eq 0
check "the agent reconnected" grep -q "reconnecting" "$work/a-ckill.log"

# 4. Spool smaller than the input while the collector is down.
stop_collector
agent_yaml a-small "spool: {max_bytes: 65536, segment_bytes: 16384, fsync_interval_ms: 10}" \
  > "$work/a-small.yaml"
"$agent" --config "$work/a-small.yaml" run --synthetic-events 5000 --give-up-after 4 \
  2> "$work/a-small.log"
check "small spool, no collector: gives up with exit 3" test $? -eq 3
check "small spool: the agent says it dropped batches" grep -q "spool full" "$work/a-small.log"
start_collector "$port"
"$agent" --config "$work/a-small.yaml" run --synthetic-events 1 2> "$work/a-small2.log"
check "small spool: the next run delivers and exits 0" test $? -eq 0
lost=$(sql "SELECT explanation FROM breaches WHERE agent_id = 'a-small' AND rule_id = 'integrity.spool_loss'" |
  sed -n 's/.*dropped \([0-9]*\) signed.*/\1/p' | awk '{s += $1} END {print s + 0}')
stored=$(count a-small)
check "small spool: integrity.spool_loss recorded" test "$(findings a-small 'integrity.spool_loss')" -gt 0
check "small spool: lost ($lost) + stored ($stored) = 5001" test "$((lost + stored))" -eq 5001
check "small spool: no other integrity finding" \
  test "$(findings a-small '%')" -eq "$(findings a-small 'integrity.spool_loss')"
"$vagtctl" agents status --db "$db" --json > "$work/status.json"
check "vagtctl agents status says a-small is losing" \
  grep -q '"agent":"a-small".*"health":"losing"' "$work/status.json"
check "vagtctl agents status says a-down is ok or stale" \
  grep -Eq '"agent":"a-down".*"health":"(ok|stale)"' "$work/status.json"

# 5. A spool truncated mid-record and one with a flipped byte.
stop_collector
agent_yaml a-torn "spool: {segment_bytes: 8192}" > "$work/a-torn.yaml"
"$agent" --config "$work/a-torn.yaml" run --synthetic-events 1000 --give-up-after 2 \
  2> "$work/a-torn.log"
check "torn: the spool is filled while the collector is down" test $? -eq 3
segs=("$work"/state-a-torn/spool/*.seg)
nonempty=()
for s in "${segs[@]}"; do [ -s "$s" ] && nonempty+=("$s"); done
last=${nonempty[-1]}
truncate -s -10 "$last"
# Flip the byte 20 before the end of the first record of the first segment:
# inside its events, so its signed header stays verifiable.
first=${nonempty[0]}
len=$(od -An -tu4 -N4 "$first" | tr -d ' ')
off=$((8 + len - 20))
byte=$(od -An -tu1 -j "$off" -N1 "$first" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$first" bs=1 seek="$off" conv=notrunc 2>/dev/null
start_collector "$port"
"$agent" --config "$work/a-torn.yaml" run --synthetic-events 1 2> "$work/a-torn2.log"
check "torn: the agent starts and exits 0" test $? -eq 0
check "torn: it reports the torn record" grep -q "torn" "$work/a-torn2.log"
check "torn: it reports the corrupt record" grep -q "corrupt record" "$work/a-torn2.log"
check "torn: the corrupt batch is an integrity.spool_loss of 50 events" \
  test "$(sql "SELECT COUNT(*) FROM breaches WHERE agent_id = 'a-torn' AND rule_id = 'integrity.spool_loss' AND explanation LIKE '%dropped 50 %corrupt_record%'")" -eq 1
stored=$(count a-torn)
# 1000 events = 20 batches: one corrupt (reported), one torn (gone), +1 new.
check "torn: the rest is stored ($stored = 1000 - 50 - 50 + 1)" test "$stored" -eq 901
check "torn: no other integrity finding" test "$(findings a-torn '%')" -eq 1

# 6. Wrong collector name: the TLS handshake fails, nothing is sent.
SERVER_NAME=not-the-collector agent_yaml a-name > "$work/a-name.yaml"
"$agent" --config "$work/a-name.yaml" run --synthetic-events 10 --give-up-after 3 \
  2> "$work/a-name.log"
check "wrong collector name: exit 3" test $? -eq 3
check "wrong collector name: the TLS failure is named" grep -qi "handshake" "$work/a-name.log"
check "wrong collector name: nothing stored" test "$(count a-name)" -eq 0

# 7. Least privilege: --check-config, refused modes, the switch to a user.
agent_yaml a-down > "$work/check.yaml"
check "--check-config accepts a sound deployment" \
  "$agent" --config "$work/check.yaml" --check-config
chmod 0644 "$work/pki/a-down.key"
"$agent" --config "$work/check.yaml" --check-config 2> "$work/check.log"
check "a world-readable key is refused (exit 2)" test $? -eq 2
check "with a clear message" grep -q "a-down.key has mode 0644" "$work/check.log"
chmod 0600 "$work/pki/a-down.key"
chmod 0777 "$work/state-a-down"
"$agent" --config "$work/check.yaml" run --synthetic-events 1 2> "$work/check2.log"
check "a world-writable state dir is refused (exit 2)" test $? -eq 2
check "naming the state dir" grep -q "state dir .*state-a-down has mode 0777" "$work/check2.log"
chmod 0700 "$work/state-a-down"
if [ "$(id -u)" -eq 0 ] && id nobody > /dev/null 2>&1; then
  priv=$work/priv && mkdir -m 0711 "$priv"
  cp "$work/pki/a-down.pem" "$work/pki/a-down.key" "$work/pki/ca.pem" "$priv/"
  chown nobody "$priv/a-down.key" && chmod 0644 "$priv/a-down.pem" "$priv/ca.pem"
  chmod 0711 "$work"
  agent_yaml a-down "user: nobody" | sed "s#$work/pki/a-down#$priv/a-down#g; s#$work/pki/ca.pem#$priv/ca.pem#; s#state_dir: .*#state_dir: $priv/state#" \
    > "$work/priv.yaml"
  check "--check-config as root for user nobody" "$agent" --config "$work/priv.yaml" --check-config
  stop_collector  # the agent waits, so its process can be inspected
  "$agent" --config "$work/priv.yaml" run --synthetic-events 1 --give-up-after 3 2> "$work/priv.log" &
  agent_pid=$!
  sleep 1
  check "the agent runs as nobody" grep -Eq "^Uid:\s+$(id -u nobody)\s+$(id -u nobody)" "/proc/$agent_pid/status"
  check "keeping CAP_NET_RAW only" grep -Eq "^CapEff:\s+0000000000002000" "/proc/$agent_pid/status"
  check "and no more permitted" grep -Eq "^CapPrm:\s+0000000000002000" "/proc/$agent_pid/status"
  wait "$agent_pid"; agent_pid=
  check "its spool belongs to nobody" test "$(stat -c %U "$priv/state/spool")" = nobody
fi

stop_collector
echo "delivery test: $failures failure(s)"
[ "$failures" -eq 0 ]
