#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# pki.sh — the test cluster's certificates and keys, made with openssl into STATE_DIR/pki.
#
#   pki.sh init  STATE_DIR
#       cluster CA (ca.crt/ca.key), apiserver serving cert, admin client cert
#       (O=system:masters), the apiserver's kubelet client cert (apiserver-kubelet-client,
#       O=system:masters), ServiceAccount token signing key pair (sa.key/sa.pub).
#   pki.sh issue STATE_DIR NAME CN [--org O]... [--san DNS:x|IP:y]... [--days N]
#       another leaf signed by the same CA into pki/NAME.crt + pki/NAME.key, usable as both
#       server and client cert (a kubelet simulator's serving cert, a node client cert with
#       --org system:nodes and CN system:node:NAME, ...). Prints the two paths.
#
# Both are idempotent: an existing file is kept. Keys are ECDSA P-256 (fast to make, accepted
# by Go, OpenSSL and curl); the ServiceAccount signing key is RSA 2048 (RS256 tokens, as on a
# typical cluster).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APISERVER_SANS=(
    IP:127.0.0.1 IP:0:0:0:0:0:0:0:1 IP:10.96.0.1 DNS:localhost DNS:kubernetes
    DNS:kubernetes.default DNS:kubernetes.default.svc DNS:kubernetes.default.svc.cluster.local
)

pki_new_key() { # PATH
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

pki_init_ca() { # PKI [NAME CN]: NAME.crt/.key, default ca / kubepulse-test-ca
    local pki="$1" ca="${2:-ca}" cn="${3:-kubepulse-test-ca}"
    [[ -f "$pki/$ca.crt" && -f "$pki/$ca.key" ]] && return 0
    pki_new_key "$pki/$ca.key"
    cat >"$pki/$ca.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
CN = $cn
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
CNF
    openssl req -x509 -new -key "$pki/$ca.key" -config "$pki/$ca.cnf" -sha256 -days 3650 \
        -out "$pki/$ca.crt"
}

# pki_issue PKI NAME CN ORGS(comma list, may be empty) SANS(comma list, may be empty) DAYS
# The issuing CA is PKI/ca, or PKI/$PKI_CA when that is set (the front-proxy CA).
pki_issue() {
    local pki="$1" name="$2" cn="$3" orgs="$4" sans="$5" days="$6" subj="" o ca="${PKI_CA:-ca}"
    [[ -f "$pki/$name.crt" && -f "$pki/$name.key" ]] && return 0
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || kp_die "bad cert name '$name'"
    IFS=, read -r -a olist <<<"$orgs"
    for o in "${olist[@]}"; do subj+="/O=$o"; done
    subj+="/CN=$cn"
    {
        echo "[leaf]"
        echo "basicConstraints = critical, CA:FALSE"
        echo "keyUsage = critical, digitalSignature"
        echo "extendedKeyUsage = serverAuth, clientAuth"
        echo "subjectKeyIdentifier = hash"
        echo "authorityKeyIdentifier = keyid"
        [[ -z "$sans" ]] || echo "subjectAltName = $sans"
    } >"$pki/$name.ext"
    pki_new_key "$pki/$name.key"
    openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -sha256 -days "$days" \
        -extfile "$pki/$name.ext" -extensions leaf -out "$pki/$name.crt" 2>/dev/null
    rm -f "$pki/$name.csr"
}

pki_init() {
    local pki="$1/pki" sans
    mkdir -p "$pki"
    pki_init_ca "$pki"
    sans="$(IFS=,; echo "${APISERVER_SANS[*]}")"
    pki_issue "$pki" apiserver kube-apiserver "" "$sans" 825
    pki_issue "$pki" admin kubepulse-admin system:masters "" 825
    # The API server's client certificate towards kubelets (logs, exec), as kubeadm makes it.
    pki_issue "$pki" apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" 825
    # The aggregation layer's front proxy, as kubeadm makes it: its own CA, and the client
    # certificate the API server presents to aggregated API servers (--proxy-client-cert-file).
    pki_init_ca "$pki" front-proxy-ca kubepulse-test-front-proxy-ca
    PKI_CA=front-proxy-ca pki_issue "$pki" front-proxy-client front-proxy-client "" "" 825
    if [[ ! -f "$pki/sa.key" || ! -f "$pki/sa.pub" ]]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
        chmod 600 "$pki/sa.key"
        openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
    fi
}

main() {
    local cmd="${1:-}" dir
    case "$cmd" in
    init)
        dir="$(kp_state_dir "${2:-}")"
        pki_init "$dir"
        ;;
    issue)
        [[ $# -ge 4 ]] || kp_die "usage: pki.sh issue STATE_DIR NAME CN [--org O]... [--san S]..."
        dir="$(kp_state_dir "$2")"
        local name="$3" cn="$4" orgs="" sans="" days=825
        shift 4
        while [[ $# -gt 0 ]]; do
            case "$1" in
            --org) orgs+="${orgs:+,}$2" ;;
            --san) sans+="${sans:+,}$2" ;;
            --days) days="$2" ;;
            *) kp_die "unknown option $1" ;;
            esac
            shift 2
        done
        [[ -f "$dir/pki/ca.key" ]] || kp_die "no CA in $dir/pki; run pki.sh init first"
        pki_issue "$dir/pki" "$name" "$cn" "$orgs" "$sans" "$days"
        printf '%s\n%s\n' "$dir/pki/$name.crt" "$dir/pki/$name.key"
        ;;
    *) kp_die "usage: pki.sh init STATE_DIR | pki.sh issue STATE_DIR NAME CN [options]" ;;
    esac
}

main "$@"
