#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# mint-token.sh — give a test identity exactly the rights it needs and print its token.
#
#   mint-token.sh STATE_DIR NAMESPACE SERVICEACCOUNT [options]  -> bound token on stdout
#
#   --rule VERBS:RESOURCES          a rule of the Role kp-SA in NAMESPACE (RoleBinding)
#   --cluster-rule VERBS:RESOURCES  a rule of the ClusterRole kp-NAMESPACE-SA
#                                   (ClusterRoleBinding); for nodes, nodes/proxy, ...
#   --bind-clusterrole NAME         bind an existing ClusterRole inside NAMESPACE only
#   --duration D                    token lifetime, default 1h (the apiserver's minimum: 10m)
#   --audience A                    token audience (default: the apiserver's --api-audiences)
#
# VERBS and RESOURCES are comma lists; a resource is RESOURCE[/SUB][.GROUP] as kubectl spells
# it: pods, nodes/proxy, leases.coordination.k8s.io, "*". Example:
#   mint-token.sh $D kp-test elector --rule get,list,watch,create,update:leases.coordination.k8s.io
#
# The namespace and ServiceAccount are created when missing. Without any rule option the
# account has no RBAC grant at all (only what system:serviceaccounts gets by default). Rules
# are applied server-side, so running it again with other rules replaces them. The token is a
# TokenRequest (bound, expiring) token, as kubelet would mount into a pod.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# rule_json "get,list:leases.coordination.k8s.io,pods" -> JSON array of PolicyRules
rule_json() {
    local verbs="${1%%:*}" resources="${1#*:}" res name group
    local -a rlist
    [[ "$1" == *:* && -n "$verbs" && -n "$resources" ]] ||
        kp_die "bad rule '$1' (want VERBS:RESOURCES, e.g. get,list:pods)"
    IFS=, read -r -a rlist <<<"$resources"
    for res in "${rlist[@]}"; do
        if [[ "$res" == "*" ]]; then
            name="*" group="*"
        elif [[ "$res" == *.* ]]; then
            name="${res%%.*}" group="${res#*.}"
        else
            name="$res" group=""
        fi
        jq -cn --arg v "$verbs" --arg r "$name" --arg g "$group" \
            '{apiGroups: [$g], resources: [$r], verbs: ($v | split(","))}'
    done | jq -cs .
}

concat() { jq -cn --argjson a "$1" --argjson b "$2" '$a + $b'; }

main() {
    [[ $# -ge 3 ]] || kp_die "usage: mint-token.sh STATE_DIR NAMESPACE SERVICEACCOUNT [options]"
    local dir ns="$2" sa="$3" duration=1h audience="" kubectl kubeconfig
    local ns_rules="[]" cl_rules="[]" r
    local -a bind_cr=() objs=() token_args=()
    dir="$(kp_state_dir "$1")"
    shift 3
    while [[ $# -gt 0 ]]; do
        [[ $# -ge 2 ]] || kp_die "option $1 needs a value"
        case "$1" in
        --rule) ns_rules="$(concat "$ns_rules" "$(rule_json "$2")")" ;;
        --cluster-rule) cl_rules="$(concat "$cl_rules" "$(rule_json "$2")")" ;;
        --bind-clusterrole) bind_cr+=("$2") ;;
        --duration) duration="$2" ;;
        --audience) audience="$2" ;;
        *) kp_die "unknown option $1" ;;
        esac
        shift 2
    done
    kubectl="$(kp_env_get "$dir" KP_KUBECTL)"
    kubeconfig="$(kp_env_get "$dir" KP_KUBECONFIG)"
    [[ -x "$kubectl" && -f "$kubeconfig" ]] || kp_die "no running cluster in $dir (run up.sh)"

    local subject
    subject="$(jq -cn --arg n "$sa" --arg ns "$ns" \
        '{kind: "ServiceAccount", name: $n, namespace: $ns}')"
    objs+=("$(jq -cn --arg ns "$ns" \
        '{apiVersion: "v1", kind: "Namespace", metadata: {name: $ns}}')")
    objs+=("$(jq -cn --arg n "$sa" --arg ns "$ns" \
        '{apiVersion: "v1", kind: "ServiceAccount", metadata: {name: $n, namespace: $ns}}')")
    if [[ "$ns_rules" != "[]" ]]; then
        objs+=("$(jq -cn --arg n "kp-$sa" --arg ns "$ns" --argjson rules "$ns_rules" \
            '{apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role",
              metadata: {name: $n, namespace: $ns}, rules: $rules}')")
        objs+=("$(jq -cn --arg n "kp-$sa" --arg ns "$ns" --argjson s "$subject" \
            '{apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
              metadata: {name: $n, namespace: $ns}, subjects: [$s],
              roleRef: {apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: $n}}')")
    fi
    if [[ "$cl_rules" != "[]" ]]; then
        objs+=("$(jq -cn --arg n "kp-$ns-$sa" --argjson rules "$cl_rules" \
            '{apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole",
              metadata: {name: $n}, rules: $rules}')")
        objs+=("$(jq -cn --arg n "kp-$ns-$sa" --argjson s "$subject" \
            '{apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding",
              metadata: {name: $n}, subjects: [$s],
              roleRef: {apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: $n}}')")
    fi
    for r in "${bind_cr[@]}"; do
        objs+=("$(jq -cn --arg n "kp-$sa-$r" --arg ns "$ns" --arg r "$r" --argjson s "$subject" \
            '{apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
              metadata: {name: $n, namespace: $ns}, subjects: [$s],
              roleRef: {apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: $r}}')")
    done
    printf '%s\n' "${objs[@]}" | jq -s '{apiVersion: "v1", kind: "List", items: .}' |
        "$kubectl" --kubeconfig "$kubeconfig" apply --server-side --force-conflicts \
            --field-manager=kubepulse-tests -f - >/dev/null

    token_args=(create token "$sa" -n "$ns" --duration "$duration")
    [[ -z "$audience" ]] || token_args+=(--audience "$audience")
    "$kubectl" --kubeconfig "$kubeconfig" "${token_args[@]}"
}

main "$@"
