#!/usr/bin/env bash
# Throwaway development PKI for vagt: NOT for production use.
#
#   tests/certs/gen.sh OUTDIR [AGENT_ID...]
#
# Makes, all Ed25519 (the agent signs batches with its certificate's key):
#   ca.pem ca.key                     the region's CA
#   collector.pem collector.key       CN=vagt-collector, SAN localhost, 127.0.0.1, ::1
#   <agent>.pem <agent>.key           CN=<agent>, clientAuth (default agent: agent-ward7-01)
#   rogue-ca.pem, rogue-agent.pem/.key  a CA the collector does not trust, and an agent of it
#   agent-revoked.pem/.key, crl.pem   an agent of the CA and a CRL that revokes it
#   pseudonym.key                     32 random bytes for the patient-id HMAC
# Every run makes new keys; the caller picks the folder (tests use a temp dir).
set -euo pipefail
out=${1:?usage: gen.sh OUTDIR [AGENT_ID...]}
shift
agents=("$@")
[ ${#agents[@]} -gt 0 ] || agents=(agent-ward7-01)
mkdir -p "$out"
cd "$out"
umask 077

ext() { # name, extension lines
  printf '%s\n' "$2" > "$1.ext"
}

mkca() { # name, subject
  openssl genpkey -algorithm ED25519 -out "$1.key" 2>/dev/null
  openssl req -new -x509 -key "$1.key" -out "$1.pem" -days 3650 -subj "$2" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

mkleaf() { # name, CN, ca, extensions
  openssl genpkey -algorithm ED25519 -out "$1.key" 2>/dev/null
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/O=vagt development/CN=$2" 2>/dev/null
  ext "$1" "$4"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
    -out "$1.pem" -days 825 -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

mkca ca "/O=vagt development/CN=vagt development region CA"
mkleaf collector vagt-collector ca "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:vagt-collector,DNS:localhost,IP:127.0.0.1,IP:::1"
for a in "${agents[@]}"; do
  mkleaf "$a" "$a" ca "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
done
mkca rogue-ca "/O=not the region/CN=rogue CA"
mkleaf rogue-agent "${agents[0]}" rogue-ca "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
mkleaf agent-revoked agent-revoked ca "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
mkdir -p crl.d
: > crl.d/index.txt
echo 1000 > crl.d/crlnumber
cat > crl.d/ca.cnf <<CNF
[ca]
default_ca = dev
[dev]
database = crl.d/index.txt
crlnumber = crl.d/crlnumber
default_md = default
default_crl_days = 30
CNF
openssl ca -config crl.d/ca.cnf -keyfile ca.key -cert ca.pem -revoke agent-revoked.pem 2>/dev/null
openssl ca -config crl.d/ca.cnf -keyfile ca.key -cert ca.pem -gencrl -out crl.pem 2>/dev/null
rm -rf crl.d
head -c 32 /dev/urandom > pseudonym.key
rm -f ./*.srl
chmod 0600 ./*.key
chmod 0644 ./*.pem
