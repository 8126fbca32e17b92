#!/usr/bin/env bash
# Capture benchmark: builds a mixed capture (mostly TLS, a few per cent LDAP
# and Kerberos authentication), then times in one run
#   1. the raw libpcap read loop (pcap_next_ex)        [vagt_capture_bench]
#   2. the agent's offline pipeline, events counted    [vagt_capture_bench]
#   3. vagt-agent decode FILE > /dev/null              [the real binary, JSON output]
#   4. tshark extracting the same authentication results
# and checks that vagt and tshark find the same events. Not part of ctest.
#
#   tests/bench/capture_vs_tshark.sh [BUILD_DIR=build/bench] [PACKETS=600000]
#
# BUILD_DIR must be a Release build: cmake -S . -B build/bench -G Ninja
# -DCMAKE_BUILD_TYPE=Release; the script builds the targets it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/bench}
packets=${2:-600000}
work=$(mktemp -d /tmp/vagt-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

cmake --build "$build" --target vagt_capture_bench vagt_gen_mixed_pcap vagt-agent >/dev/null
pcap="$work/mixed.pcap"
echo "== generating $packets packets"
"$build/tests/bench/vagt_gen_mixed_pcap" "$pcap" "$packets" tests/data/pcap/krb/zeek_kinit.pcap \
  | tee "$work/gen.txt"
ls -l "$pcap" | awk '{print "file bytes", $5}'
read -r _ total _ ok _ refused _ krb < "$work/gen.txt"

echo "== libpcap read loop and agent pipeline (Google Benchmark, 3 iterations each)"
VAGT_BENCH_PCAP="$pcap" "$build/tests/bench/vagt_capture_bench" --benchmark_counters_tabular=true

echo "== vagt-agent decode (JSON lines to a file)"
start=$(date +%s.%N)
"$build/agent/vagt-agent" decode "$pcap" > "$work/vagt.jsonl"
end=$(date +%s.%N)
echo "vagt-agent decode seconds $(echo "$end - $start" | bc)"

echo "== tshark"
start=$(date +%s.%N)
tshark -r "$pcap" -Y 'ldap.protocolOp == 1 || kerberos.msg_type == 11 || kerberos.msg_type == 30' \
  -T fields -e ldap.resultCode -e kerberos.msg_type -e kerberos.error_code > "$work/tshark.tsv" 2>/dev/null
end=$(date +%s.%N)
echo "tshark seconds $(echo "$end - $start" | bc)"

# The same events: LDAP bind results by code, Kerberos replies by outcome.
v_ok=$(grep -c '"protocol":"ldap","transport":"tcp".*"action":"bind".*"outcome":"success"' "$work/vagt.jsonl" || true)
v_refused=$(grep -c '"action":"bind".*"code":"49"' "$work/vagt.jsonl" || true)
v_krb=$(grep -c '"protocol":"krb"' "$work/vagt.jsonl" || true)
t_ok=$(awk -F'\t' '$1=="0"' "$work/tshark.tsv" | wc -l)
t_refused=$(awk -F'\t' '$1=="49"' "$work/tshark.tsv" | wc -l)
t_krb=$(awk -F'\t' '$2!=""' "$work/tshark.tsv" | wc -l)
echo "generated: ldap ok $ok refused $refused krb $krb (packets $total)"
echo "vagt:      ldap ok $v_ok refused $v_refused krb $v_krb"
echo "tshark:    ldap ok $t_ok refused $t_refused krb $t_krb"
if [ "$v_ok $v_refused $v_krb" != "$ok $refused $krb" ] || [ "$t_ok $t_refused $t_krb" != "$ok $refused $krb" ]; then
  echo "MISMATCH" >&2
  exit 1
fi
echo "same events: yes"
