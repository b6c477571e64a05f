/* SPDX-License-Identifier: Apache-2.0 */
/*
 * version.h - the program's version and git commit. CMake passes both to every file of the
 * program (src/app/CMakeLists.txt); these fallbacks serve only a compile without it.
 */
#ifndef KP_APP_VERSION_H
#define KP_APP_VERSION_H

#ifndef KP_VERSION
#define KP_VERSION "0.0.0"
#endif
#ifndef KP_GIT_COMMIT
#define KP_GIT_COMMIT "unknown"
#endif

#endif
