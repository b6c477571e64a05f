# SPDX-License-Identifier: Apache-2.0
# libev ships no pkg-config file on Debian; find it by header and library.
find_path(LIBEV_INCLUDE_DIR ev.h PATH_SUFFIXES libev)
find_library(LIBEV_LIBRARY NAMES ev)
if(NOT LIBEV_INCLUDE_DIR OR NOT LIBEV_LIBRARY)
    message(FATAL_ERROR "libev not found (Debian: apt-get install libev-dev)")
endif()
add_library(libev::libev UNKNOWN IMPORTED)
set_target_properties(libev::libev PROPERTIES
    IMPORTED_LOCATION "${LIBEV_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LIBEV_INCLUDE_DIR}")
message(STATUS "libev: ${LIBEV_LIBRARY}")
