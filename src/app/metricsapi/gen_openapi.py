#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes openapi.c: the OpenAPI v2 and v3 documents of metrics.k8s.io/v1beta1.

The schemas describe the objects api.c renders; they are self-contained (metadata is an
inline object) so that the v3 document resolves without the cluster's definitions.
Run: python3 src/app/metricsapi/gen_openapi.py > src/app/metricsapi/openapi.c
"""
import json

P = "io.k8s.metrics.pkg.apis.metrics.v1beta1."
GVK = lambda k: [{"group": "metrics.k8s.io", "kind": k, "version": "v1beta1"}]
STR = {"type": "string"}
META = {"type": "object", "description": "Standard object metadata.",
        "properties": {"name": STR, "namespace": STR,
                       "creationTimestamp": {"type": "string", "format": "date-time"},
                       "labels": {"type": "object", "additionalProperties": STR}}}
LISTMETA = {"type": "object", "properties": {"resourceVersion": STR, "continue": STR}}
USAGE = {"type": "object", "description": "The memory working set and the CPU usage over the window.",
         "additionalProperties": STR}


def list_of(item, ref):
    """The schema of item's list kind (NodeMetricsList, PodMetricsList)."""
    return {
        "description": item + "List is a list of " + item + ".",
        "type": "object", "required": ["items"],
        "properties": {"apiVersion": STR, "kind": STR, "metadata": LISTMETA,
                       "items": {"type": "array", "items": {"$ref": ref + P + item}}},
        "x-kubernetes-group-version-kind": GVK(item + "List")}


def defs(ref):
    return {
        P + "NodeMetrics": {
            "description": "NodeMetrics sets resource usage metrics of a node.",
            "type": "object", "required": ["timestamp", "window", "usage"],
            "properties": {"apiVersion": STR, "kind": STR, "metadata": META,
                           "timestamp": {"type": "string", "format": "date-time"},
                           "window": STR, "usage": USAGE},
            "x-kubernetes-group-version-kind": GVK("NodeMetrics")},
        P + "NodeMetricsList": list_of("NodeMetrics", ref),
        P + "ContainerMetrics": {
            "description": "ContainerMetrics sets resource usage metrics of a container.",
            "type": "object", "required": ["name", "usage"],
            "properties": {"name": STR, "usage": USAGE}},
        P + "PodMetrics": {
            "description": "PodMetrics sets resource usage metrics of a pod.",
            "type": "object", "required": ["timestamp", "window", "containers"],
            "properties": {"apiVersion": STR, "kind": STR, "metadata": META,
                           "timestamp": {"type": "string", "format": "date-time"},
                           "window": STR,
                           "containers": {"type": "array",
                                          "items": {"$ref": ref + P + "ContainerMetrics"}}},
            "x-kubernetes-group-version-kind": GVK("PodMetrics")},
        P + "PodMetricsList": list_of("PodMetrics", ref),
    }


PATHS = [
    ("/apis/metrics.k8s.io/v1beta1/nodes", "NodeMetricsList", "list", False, False),
    ("/apis/metrics.k8s.io/v1beta1/nodes/{name}", "NodeMetrics", "get", True, False),
    ("/apis/metrics.k8s.io/v1beta1/pods", "PodMetricsList", "list", False, False),
    ("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods", "PodMetricsList", "list", False, True),
    ("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}", "PodMetrics", "get", True, True),
]


def params(named, ns, v3):
    out = []
    sch = lambda d: {"schema": {"type": "string"}} if v3 else {"type": "string"}
    if ns:
        out.append(dict({"name": "namespace", "in": "path", "required": True}, **sch(0)))
    if named:
        out.append(dict({"name": "name", "in": "path", "required": True}, **sch(0)))
    else:
        for q in ("labelSelector", "fieldSelector"):
            out.append(dict({"name": q, "in": "query"}, **sch(0)))
    return out


def paths(v3):
    ref = "#/components/schemas/" if v3 else "#/definitions/"
    res = {}
    for path, kind, verb, named, ns in PATHS:
        schema = {"$ref": ref + P + kind}
        ok = ({"description": "OK", "content": {"application/json": {"schema": schema}}}
              if v3 else {"description": "OK", "schema": schema})
        res[path] = {"get": {
            "operationId": verb + "MetricsV1beta1" + ("Namespaced" if ns else "")
                           + kind.replace("List", ""),
            "tags": ["metrics_v1beta1"], "parameters": params(named, ns, v3),
            "responses": {"200": ok, "401": {"description": "Unauthorized"}},
            "x-kubernetes-action": verb,
            "x-kubernetes-group-version-kind": GVK(kind.replace("List", ""))[0]}}
    return res


v2 = {"swagger": "2.0", "info": {"title": "kubepulse metrics.k8s.io", "version": "v1beta1"},
      "paths": paths(False), "definitions": defs("#/definitions/")}
v3 = {"openapi": "3.0.0", "info": {"title": "kubepulse metrics.k8s.io", "version": "v1beta1"},
      "paths": paths(True), "components": {"schemas": defs("#/components/schemas/")}}
index = {"paths": {"apis/metrics.k8s.io/v1beta1": {
    "serverRelativeURL": "/openapi/v3/apis/metrics.k8s.io/v1beta1"}}}


def c_string(name, obj):
    s = json.dumps(obj, separators=(",", ":"), sort_keys=True)
    lines, cur = [], ""
    for ch in s:  # chunks whose C literal stays within 100 columns
        if len(json.dumps(cur + ch)) > 94:
            lines.append(cur)
            cur = ""
        cur += ch
    lines.append(cur)
    body = "\n".join("    " + json.dumps(l) for l in lines)
    return "const char %s[] =\n%s;\n" % (name, body)


print("/* SPDX-License-Identifier: Apache-2.0 */")
print("/*\n * openapi.c - generated by src/app/metricsapi/gen_openapi.py; do not edit.\n */")
print('#include "openapi.h"\n')
print("/* clang-format off */")
print(c_string("mapi_openapi_v2", v2))
print(c_string("mapi_openapi_v3_index", index))
print(c_string("mapi_openapi_v3_gv", v3))
print("/* clang-format on */")
