/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_listen.c - listening sockets for the servers in kp_common: one parser of
 * "HOST:PORT" / ":PORT" / "[v6]:PORT" and one way to bind them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

static int split_listen(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(end - addr - 1), addr + 1);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(colon - addr), addr);
    }
    if (!colon[1])
        return -1;
    snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

int kp_listen_tcp(const char *addr, int *port_out, char *err, size_t errlen)
{
    char host[256], port[16];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    int fd = -1, one = 1, rc;

    if (!addr || split_listen(addr, host, sizeof(host), port, sizeof(port)) < 0) {
        snprintf(err, errlen, "listen address \"%s\": expected HOST:PORT or :PORT",
                 addr ? addr : "");
        return -1;
    }
    hints.ai_family = host[0] ? AF_UNSPEC : AF_INET6;
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (rc != 0 && !host[0]) {
        hints.ai_family = AF_INET; /* no IPv6 on this machine */
        rc = getaddrinfo(NULL, port, &hints, &ai);
    }
    if (rc != 0) {
        snprintf(err, errlen, "listen address \"%s\": %s", addr, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto sys_fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6 && !host[0]) {
        int zero = 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
        goto sys_fail;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    freeaddrinfo(ai);
    return fd;
sys_fail:
    snprintf(err, errlen, "listen address \"%s\": %s (is another process using the port?)", addr,
             strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -1;
}
