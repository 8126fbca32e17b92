#!/usr/bin/env bash
# Live DICOM on loopback: dcmtk's storescp and storescu (with a user identity)
# exchange a generated data set holding a test CPR number while tshark
# captures the loopback interface; `vagt-agent decode` of that capture must
# give the association and the C-STORE with principal, called AE and the
# patient pseudonym under the given key, and never the clear CPR. Needs
# packet capture rights on lo (root, as in CI) and dcmtk + tshark (.ci/setup).
#   dicom_live_test.sh AGENT
set -uo pipefail
agent=$1
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
check() { # description, command...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
for tool in storescp storescu dump2dcm tshark python3; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool is not installed (run .ci/setup)"; exit 1; }
done

cpr=0101701234
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
head -c 32 /dev/urandom > "$work/pseudonym.key"

# A Secondary Capture data set with a patient id (dump2dcm adds the meta header).
cat > "$work/image.dump" <<DUMP
(0008,0016) UI =SecondaryCaptureImageStorage
(0008,0018) UI [2.25.1234567890123456789]
(0008,0060) CS [OT]
(0010,0010) PN [Live^Test]
(0010,0020) LO [$cpr]
(0020,000d) UI [2.25.1234567890123456780]
(0020,000e) UI [2.25.1234567890123456781]
DUMP
dump2dcm --write-xfer-little "$work/image.dump" "$work/image.dcm" || { echo "FAIL dump2dcm"; exit 1; }

tshark -q -i lo -f "tcp port $port" -w "$work/live.pcapng" 2> "$work/tshark.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "Capturing on" "$work/tshark.log" && break; sleep 0.1; done
grep -q "Capturing on" "$work/tshark.log" || { echo "FAIL capture on lo: $(cat "$work/tshark.log")"; exit 1; }

mkdir -p "$work/in"
storescp --aetitle PACS_LIVE --output-directory "$work/in" "$port" 2> "$work/storescp.log" &
pids+=($!)
for _ in $(seq 50); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
  sleep 0.1
done
check "storescu sends the data set with a user identity" \
  storescu --aetitle WARD_LIVE --call PACS_LIVE --user nurse.live 127.0.0.1 "$port" "$work/image.dcm"
sleep 1  # let the last segments reach the capture file
kill -INT "${pids[0]}"
wait "${pids[0]}" 2>/dev/null

"$agent" decode --pseudonym-key "$work/pseudonym.key" "$work/live.pcapng" > "$work/events.json" 2> "$work/decode.log"
check "decode of the live capture exits 0" test $? -eq 0
expected=$(python3 -c "import hmac,hashlib,sys; k=open('$work/pseudonym.key','rb').read(); print('p1:'+hmac.new(k,b'$cpr',hashlib.sha256).hexdigest()[:32])")
python3 - "$work/events.json" "$expected" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
dicom = [e for e in events if e["protocol"] == "dicom"]
actions = [(e["action"], e["principal"], e["resource"], e["outcome"]) for e in dicom]
want = [("associate", "nurse.live", "PACS_LIVE", "success"),
        ("c-store", "nurse.live", "PACS_LIVE", "success")]
ok = actions == want
store = [e for e in dicom if e["action"] == "c-store"]
ok = ok and len(store) == 1 and store[0]["patient"] == sys.argv[2]
ok = ok and store[0]["detail"]["calling_ae"] == "WARD_LIVE"
ok = ok and store[0]["detail"]["sop_class"] == "1.2.840.10008.5.1.4.1.1.7"
print("events:", actions)
sys.exit(0 if ok else 1)
PY
check "association and C-STORE with principal, called AE and patient pseudonym" test $? -eq 0
check "the clear CPR is nowhere in the output" bash -c "! grep -q $cpr '$work/events.json'"
check "storescp received the image" bash -c "ls '$work/in' | grep -q ."
[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; cat "$work/decode.log"; exit 1; }
echo "all passed"
