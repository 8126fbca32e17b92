#!/usr/bin/env bash
# The real binaries as an operator runs them: a PKI from tests/certs/gen.sh,
# vagt-collector on 127.0.0.1 (port 0), vagt-agent over sample captures,
# vagtctl reading the store. Also the clear failures: bad capture, bad config,
# unreachable collector, agent from another CA.
#   processes_test.sh COLLECTOR AGENT VAGTCTL SOURCE_DIR
set -uo pipefail
collector=$1 agent=$2 vagtctl=$3 src=$4
work=$(mktemp -d)
collector_pid=
cleanup() { [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failures=0
check() { # description, command...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}

"$src/tests/certs/gen.sh" "$work/pki" agent-ward7-01 >/dev/null || exit 1
cat > "$work/collector.yaml" <<YAML
listen: {address: 127.0.0.1, port: 0}
tls: {ca: $work/pki/ca.pem, cert: $work/pki/collector.pem, key: $work/pki/collector.key}
policy: $src/policies/example.yaml
store: {engine: sqlite, path: $work/collector.db}
threads: 2
YAML
"$vagtctl" agents enroll --db "$work/collector.db" --id agent-ward7-01 \
  --cert "$work/pki/agent-ward7-01.pem" > "$work/enroll.txt"
check "vagtctl agents enroll enrols the agent" grep -q "enrolled agent-ward7-01" "$work/enroll.txt"
"$vagtctl" agents list --db "$work/collector.db" --json > "$work/agents.json"
check "vagtctl agents list shows it with its operator" \
  grep -q "\"status\":\"enrolled\",.*\"enrolled_by\":\"$(id -un)\"" "$work/agents.json"
"$collector" --config "$work/collector.yaml" --port-file "$work/port" 2> "$work/collector.log" &
collector_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port" 2>/dev/null)
check "collector starts and reports its port" test -n "$port"

agent_yaml() { # cert-name
  cat <<YAML
collector: {endpoints: ["127.0.0.1:$port"], server_name: vagt-collector, connect_timeout_ms: 3000}
tls: {ca: $work/pki/ca.pem, cert: $work/pki/$1.pem, key: $work/pki/$1.key}
pseudonym_key: $work/pki/pseudonym.key
state_dir: $work/state-$1
YAML
}
agent_yaml agent-ward7-01 > "$work/agent.yaml"
agent_yaml rogue-agent > "$work/rogue.yaml"

data=$src/tests/data/pcap/ldap
check "agent delivers the sample captures" \
  "$agent" --config "$work/agent.yaml" run "$data/ldap-simpleauth.pcap" "$data/ldap-aduser1-ntlm.pcap"

"$vagtctl" events --db "$work/collector.db" --json > "$work/events.json"
check "vagtctl events lists the delivered binds" grep -q '"principal":"User1"' "$work/events.json"
"$vagtctl" breaches --db "$work/collector.db" --json > "$work/breaches.json"
check "the ungranted bind is a possible breach with its rule" \
  grep -q 'rbac.no_grant' "$work/breaches.json"
check "the breach names the principal" grep -q 'xxxxxxxxxxx@xx.xxx.xxxxx.net' "$work/breaches.json"
"$vagtctl" breaches --db "$work/collector.db" > "$work/breaches.txt"
check "vagtctl prints a table" grep -q 'rbac.no_grant' "$work/breaches.txt"
check "no password from the capture reaches the store" \
  bash -c "! strings '$work/collector.db' '$work/collector.db-wal' 2>/dev/null | grep -qi 'passworddddd\|1:34'"

before=$(grep -c '"seq"' "$work/events.json")
"$agent" --config "$work/rogue.yaml" run --give-up-after 3 "$data/ldap-simpleauth.pcap" 2> "$work/rogue.log"
check "an agent from another CA is refused (non-zero exit)" test $? -ne 0
"$vagtctl" events --db "$work/collector.db" --json > "$work/events2.json"
check "and nothing of it is stored" test "$(grep -c '"seq"' "$work/events2.json")" -eq "$before"

printf 'not a capture at all\n' > "$work/bad.pcap"
"$agent" decode "$work/bad.pcap" > /dev/null 2> "$work/bad.log"
check "decode of a malformed capture exits non-zero" test $? -ne 0
check "with a clear message naming the file" grep -q "bad.pcap" "$work/bad.log"
head -c 100 "$data/ldap-simpleauth.pcap" > "$work/truncated.pcap"
"$agent" decode "$work/truncated.pcap" > /dev/null 2> "$work/trunc.log"
check "decode of a truncated capture does not crash" test $? -lt 128

printf 'collector: {endpoints: ["127.0.0.1:1"]}\ntls: {ca: x}\n' > "$work/badcfg.yaml"
"$agent" --config "$work/badcfg.yaml" run "$data/ldap-simpleauth.pcap" 2> "$work/badcfg.log"
check "a bad agent config is refused" test $? -ne 0
check "naming file:line" grep -q "badcfg.yaml:2" "$work/badcfg.log"

kill "$collector_pid"; wait "$collector_pid" 2>/dev/null; collector_pid=
check "the collector signed a tree head at shutdown" grep -q "signed tree head" "$work/collector.log"
"$vagtctl" verify --db "$work/collector.db" > "$work/verify.txt"
check "vagtctl verify passes on the untouched store" test $? -eq 0
check "and says so" grep -q "^verified: " "$work/verify.txt"
"$vagtctl" verify --db "$work/collector.db" --json --trusted-cert "$work/pki/collector.pem" \
  > "$work/verify.json"
check "vagtctl verify --json against the collector certificate" grep -q '"ok":true' "$work/verify.json"
sqlite3 "$work/collector.db" "UPDATE events SET principal = 'nobody' WHERE id = 1"
"$vagtctl" verify --db "$work/collector.db" > "$work/verify2.txt"
check "vagtctl verify fails (exit 3) on an edited row" test $? -eq 3
check "and names it" grep -q "^MISMATCH events 1: row edited" "$work/verify2.txt"
"$agent" --config "$work/agent.yaml" run --give-up-after 2 "$data/ldap-simpleauth.pcap" 2> "$work/down.log"
check "an unreachable collector is a non-zero exit" test $? -ne 0
check "with a clear message" grep -q "no collector could be reached" "$work/down.log"

"$vagtctl" events --db "$work/missing.db" > /dev/null 2> "$work/missing.log"
check "vagtctl on a missing store exits non-zero" test $? -ne 0

echo "processes test: $failures failure(s)"
[ "$failures" -eq 0 ]
