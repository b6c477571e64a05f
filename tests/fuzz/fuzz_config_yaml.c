/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_config_yaml.c - libFuzzer target for the --config YAML loader, then what
 * kp_options_parse does after it: Heapster's --source mapped onto the options and the rules
 * between settings (every --sink URI through its option map).
 */
#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kp_options o;
    char err[512];
    kp_options_init(&o);
    if (kp_options_load_yaml(&o, (const char *)data, size, "fuzz.yaml", err, sizeof(err)) == 0)
        if (kp_options_apply_source(&o, err, sizeof(err)) == 0)
            (void)kp_options_validate(&o, err, sizeof(err));
    kp_options_fini(&o);
    return 0;
}
