/* SPDX-License-Identifier: Apache-2.0 */
/*
 * openapi.h - the OpenAPI documents the aggregator fetches from an aggregated
 * API server: /openapi/v2 (merged into the cluster's), /openapi/v3 (the
 * index) and /openapi/v3/apis/metrics.k8s.io/v1beta1.
 */
#ifndef KP_METRICSAPI_OPENAPI_H
#define KP_METRICSAPI_OPENAPI_H

extern const char mapi_openapi_v2[];
extern const char mapi_openapi_v3_index[];
extern const char mapi_openapi_v3_gv[];

#endif
