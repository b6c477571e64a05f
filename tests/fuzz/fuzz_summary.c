/*
 * fuzz_summary.c - libFuzzer target of the streaming Summary parser and the
 * model behind it. The input is fed in chunks whose sizes come from its first
 * byte, so chunk boundaries are fuzzed too; twice, to exercise rates.
 */
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "rates.h"
#include "summary.h"

static void sink(const struct kp_batch *b, void *ud)
{
    (void)b;
    (void)ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct summary_handlers hs = {.node = model_node_on_node,
                                               .pod = model_node_on_pod};
    static const struct model_node_info ni = {.name = "n",
                                              .cpu_capacity_m = 1000,
                                              .cpu_allocatable_m = 1000,
                                              .mem_capacity = 1,
                                              .mem_allocatable = 1};
    char err[256];
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    data++, size--;
    struct rates *r = rates_new();
    struct model *m = model_new(r, NULL, NULL);
    struct model_node *mn = model_node_new(m);
    struct summary_parser *p = summary_parser_new();
    for (uint32_t cycle = 1; cycle <= 2; cycle++) {
        model_cycle_begin(m, cycle, (int64_t)cycle * 1000000000);
        model_node_begin(mn, &ni);
        summary_parse_reset(p, &hs, mn);
        int rc = 0;
        for (size_t off = 0; off < size && rc == 0; off += chunk)
            rc = summary_parse_feed(p, (const char *)data + off,
                                    size - off < chunk ? size - off : chunk, err, sizeof(err));
        if (rc == 0 && summary_parse_finish(p, err, sizeof(err)) == 0)
            model_node_finish(mn, sink, NULL);
        model_cycle_end(m, sink, NULL);
    }
    summary_parser_free(p);
    model_node_free(mn);
    model_free(m);
    rates_free(r);
    return 0;
}
