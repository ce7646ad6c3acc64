#!/bin/sh
# Make a THROWAWAY certificate authority, a broker certificate and client certificates
# for tests and local trials of config/mosquitto/. Never use these in production: the CA
# key sits next to the certificates, unprotected.
#
#   scripts/make-test-certs.sh OUTDIR [CLIENT_CN ...]
#
# Writes OUTDIR/ca.crt, ca.key, server.crt, server.key (CN and SAN localhost / 127.0.0.1 /
# ::1) and, for each CLIENT_CN (default: dispatch gateway intruder), <cn>.crt and <cn>.key.
# With `use_identity_as_username true` Mosquitto takes the client certificate's CN as the
# user name that the ACL file names, so the CN *is* the identity.
# Keys are EC P-256 (fast to make); certificates are valid for 30 days.
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 OUTDIR [CLIENT_CN ...]" >&2
    exit 2
fi
command -v openssl >/dev/null 2>&1 || { echo "$0: openssl not found" >&2; exit 1; }

out=$1
shift
[ $# -gt 0 ] || set -- dispatch gateway intruder
mkdir -p "$out"
umask 077
days=30

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# The CA.
key "$out/ca.key"
openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$days" \
    -subj "/CN=tetragw test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$out/ca.crt"

# sign NAME EXTFILE: a certificate for NAME.key, signed by the CA.
sign() {
    key "$out/$1.key"
    openssl req -new -key "$out/$1.key" -subj "/CN=$1" -out "$out/$1.csr"
    openssl x509 -req -in "$out/$1.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
        -CAcreateserial -sha256 -days "$days" -extfile "$2" -out "$out/$1.crt" 2>/dev/null
    rm -f "$out/$1.csr"
}

ext="$out/.ext"
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" > "$ext"
sign server "$ext"
for cn in "$@"; do
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=clientAuth" > "$ext"
    sign "$cn" "$ext"
done
rm -f "$ext" "$out/ca.srl"
# Mosquitto drops privileges after reading its files; certificates are public anyway.
chmod 644 "$out"/*.crt
echo "wrote $out: ca.crt server.crt/key $(printf '%s.crt/key ' "$@")"
