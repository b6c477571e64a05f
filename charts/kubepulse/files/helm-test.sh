# helm-test.sh - the `helm test` check (templates/tests/test-release.yaml runs it with sh in
# the tests image): a leader exists, it completed a scrape cycle, every sink wrote. POSIX sh,
# curl, sed, grep and tr only. Env: KP_NAMESPACE, KP_LEASE, KP_STATUS_PORT, KP_TIMEOUT_S,
# KUBERNETES_SERVICE_HOST/PORT (set by the kubelet); KP_SA_DIR (default the mounted
# ServiceAccount). tests/integration/test_packaging_rbac.py runs this same text.
set -u
sa=${KP_SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
host=$KUBERNETES_SERVICE_HOST
case $host in *:*) host="[$host]" ;; esac
api="https://$host:$KUBERNETES_SERVICE_PORT"
get() { # PATH -> the API object, one line of JSON
    curl -sS --fail --max-time 10 --cacert "$sa/ca.crt" \
        -H "Authorization: Bearer $(cat "$sa/token")" "$api$1"
}
field() { # NAME -> the first string value of "NAME" in stdin
    sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1
}
check() {
    lease=$(get "/apis/coordination.k8s.io/v1/namespaces/$KP_NAMESPACE/leases/$KP_LEASE") ||
        { why="cannot read the Lease $KP_NAMESPACE/$KP_LEASE"; return 1; }
    holder=$(printf '%s' "$lease" | field holderIdentity)
    [ -n "$holder" ] || { why="the Lease $KP_LEASE has no holder: no replica leads"; return 1; }
    ip=$(get "/api/v1/namespaces/$KP_NAMESPACE/pods/$holder" | field podIP)
    [ -n "$ip" ] || { why="the holder $holder is not a pod with an IP"; return 1; }
    case $ip in *:*) ip="[$ip]" ;; esac
    status=$(curl -sS --fail --max-time 10 "http://$ip:$KP_STATUS_PORT/status" | tr -d '\n') ||
        { why="$holder: GET /status failed"; return 1; }
    printf '%s' "$status" | grep -q '"leading": *true' ||
        { why="$holder holds the Lease but does not lead (yet)"; return 1; }
    printf '%s' "$status" | grep -q '"cycles": *[1-9]' ||
        { why="$holder leads but has not completed a scrape cycle yet"; return 1; }
    printf '%s' "$status" | grep -q '"pointsWritten"' ||
        { why="$holder has no sink"; return 1; }
    if printf '%s' "$status" | grep -q '"pointsWritten": *0[^0-9.]'; then
        why="$holder: a sink has not written any point yet"
        return 1
    fi
    return 0
}
deadline=$(($(date +%s) + ${KP_TIMEOUT_S:-120}))
why=""
while :; do
    if check; then
        echo "ok: $holder leads, completed a scrape cycle, and every sink wrote"
        exit 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "FAIL: $why" >&2
        exit 1
    fi
    echo "waiting: $why"
    sleep 2
done
