/*
 * summary_int.h - internals shared by summary.c (the byte scanner) and
 * summary_decode.c (json-c element to structs). Not part of any public API.
 */
#ifndef KP_COLLECTOR_SUMMARY_INT_H
#define KP_COLLECTOR_SUMMARY_INT_H

#include "summary.h"

#include <json-c/json.h>
#include <stdlib.h>

struct summary_pod_bufs {
    struct summary_container *containers; /* owned */
    size_t ccap;
    struct summary_fs *volumes; /* owned */
    size_t vcap;
};

/* 0, or -1 when the element is not an object (counted as a type error). */
int summary_decode_node(json_object *el, struct summary_node *n, struct summary_counts *cnt);
int summary_decode_pod(json_object *el, struct summary_pod *p, struct summary_pod_bufs *b,
                       struct summary_counts *cnt);

#endif
