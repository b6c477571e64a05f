#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# apiserver.sh — the real kube-apiserver of the test cluster (TLS, Node+RBAC, ServiceAccount
# tokens), backed by etcd.sh's etcd.
#
#   apiserver.sh start|stop|restart|kill|pause|resume|status STATE_DIR
#
# The first start needs pki.sh init and a configured etcd; it picks a free loopback port,
# writes STATE_DIR/admin.kubeconfig and the KP_APISERVER* keys in STATE_DIR/env. Restarts
# reuse the saved flags and port, so clients keep their URL. Extra flags for the first start
# can be passed in KP_APISERVER_EXTRA_ARGS (space-separated, e.g. "--v=4").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SA_ISSUER="https://kubernetes.default.svc.cluster.local"

write_kubeconfig() { # DIR URL
    local dir="$1" url="$2" pki="$1/pki"
    cat >"$dir/admin.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: kubepulse-test
  cluster:
    server: $url
    certificate-authority: $pki/ca.crt
users:
- name: kubepulse-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: kubepulse-test
  context:
    cluster: kubepulse-test
    user: kubepulse-admin
    namespace: default
current-context: kubepulse-test
KUBECONFIG
}

srv_configure() {
    local dir="$1" pki="$1/pki" bin port etcd_url
    local -a extra=()
    bin="${KP_KUBE_APISERVER_BIN:-$(kp_bin_path kube-apiserver)}"
    [[ -x "$bin" ]] || kp_die "no kube-apiserver at $bin; run tests/infra/build-servers.sh"
    [[ -f "$pki/apiserver.crt" ]] || kp_die "no certificates in $pki; run pki.sh init first"
    etcd_url="$(kp_env_get "$dir" KP_ETCD_URL)"
    [[ -n "$etcd_url" ]] || kp_die "etcd is not configured in $dir; start etcd.sh first"
    port="$(kp_free_ports "$dir" 1)"
    read -r -a extra <<<"${KP_APISERVER_EXTRA_ARGS:-}"
    # The aggregation layer (metrics.k8s.io): the front proxy's CA and client certificate
    # (pki.sh init makes them; a PKI from before them runs without), and routing to a
    # Service's endpoints rather than its ClusterIP, since the test cluster has no kube-proxy.
    if [[ -f "$pki/front-proxy-ca.crt" && -f "$pki/front-proxy-client.crt" ]]; then
        extra+=(--requestheader-client-ca-file="$pki/front-proxy-ca.crt"
            --requestheader-allowed-names=front-proxy-client
            --requestheader-username-headers=X-Remote-User
            --requestheader-group-headers=X-Remote-Group
            --requestheader-extra-headers-prefix=X-Remote-Extra-
            --proxy-client-cert-file="$pki/front-proxy-client.crt"
            --proxy-client-key-file="$pki/front-proxy-client.key"
            --enable-aggregator-routing=true)
        kp_env_set "$dir" KP_FRONT_PROXY_CA "$pki/front-proxy-ca.crt"
        kp_env_set "$dir" KP_FRONT_PROXY_CERT "$pki/front-proxy-client.crt"
        kp_env_set "$dir" KP_FRONT_PROXY_KEY "$pki/front-proxy-client.key"
    fi
    mkdir -p "$dir/apiserver"
    kp_save_args "$dir" apiserver "$bin" \
        --bind-address=127.0.0.1 \
        --advertise-address=127.0.0.1 \
        --secure-port="$port" \
        --cert-dir="$dir/apiserver" \
        --tls-cert-file="$pki/apiserver.crt" \
        --tls-private-key-file="$pki/apiserver.key" \
        --client-ca-file="$pki/ca.crt" \
        --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
        --etcd-servers="$etcd_url" \
        --authorization-mode=Node,RBAC \
        --enable-admission-plugins=NamespaceLifecycle,ServiceAccount,NodeRestriction \
        --service-account-issuer="$SA_ISSUER" \
        --service-account-key-file="$pki/sa.pub" \
        --service-account-signing-key-file="$pki/sa.key" \
        --api-audiences="$SA_ISSUER" \
        --service-cluster-ip-range=10.96.0.0/16 \
        --allow-privileged=true \
        --profiling=false \
        "${extra[@]}"
    write_kubeconfig "$dir" "https://127.0.0.1:$port"
    kp_env_set "$dir" KP_APISERVER "https://127.0.0.1:$port"
    kp_env_set "$dir" KP_APISERVER_PORT "$port"
    kp_env_set "$dir" KP_KUBECONFIG "$dir/admin.kubeconfig"
    kp_env_set "$dir" KP_CA_CERT "$pki/ca.crt"
    kp_env_set "$dir" KP_CA_KEY "$pki/ca.key"
    kp_env_set "$dir" KP_ADMIN_CERT "$pki/admin.crt"
    kp_env_set "$dir" KP_ADMIN_KEY "$pki/admin.key"
    kp_env_set "$dir" KP_SA_ISSUER "$SA_ISSUER"
    kp_env_set "$dir" KP_KUBE_APISERVER_BIN "$bin"
}

srv_ready() {
    local dir="$1" pki="$1/pki"
    [[ "$(curl -sS --max-time 3 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" \
        --key "$pki/admin.key" "$(kp_env_get "$dir" KP_APISERVER)/readyz")" == ok ]]
}

kp_server_main apiserver 90 "$@"
