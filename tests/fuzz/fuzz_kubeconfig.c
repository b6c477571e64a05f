/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kubeconfig.c - libFuzzer target for the kubeconfig parser
 * (kube_config_parse: the YAML tree, every section, base64 data fields).
 */
#include <stddef.h>
#include <stdint.h>

#include "kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *contexts[] = {NULL, "dev", "c"};
    char err[512];
    for (size_t i = 0; i < sizeof(contexts) / sizeof(contexts[0]); i++) {
        struct kube_config *cfg = NULL;
        if (kube_config_parse((const char *)data, size, "/fuzz/kube/config", contexts[i], &cfg, err,
                              sizeof(err)) == 0 &&
            !cfg)
            __builtin_trap();
        kube_config_free(cfg);
    }
    return 0;
}
