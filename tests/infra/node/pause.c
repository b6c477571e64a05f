/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pause.c - the sandbox ("pause") process of the test nodes' pods (tests/infra/node.sh).
 *
 * containerd starts one per pod to hold the pod's namespaces. It sleeps until told to stop
 * (SIGINT or SIGTERM: exit 0) and reaps any child that is re-parented to it, so a pod sharing
 * its PID namespace leaves no zombies. Built statically and shipped alone in the image
 * kubepulse.test/pause (no registry is reachable from the tests).
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void pause_on_stop(int sig)
{
    (void)sig;
    _exit(0);
}

static void pause_on_child(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(int argc, char **argv)
{
    struct sigaction sa;

    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("kubepulse.test pause 1");
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pause_on_stop;
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        return 1;
    sa.sa_handler = pause_on_child;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGCHLD, &sa, NULL) < 0)
        return 1;
    for (;;)
        pause();
}
