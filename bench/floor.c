/* The physical floor for the services benchmark: the least any supervisor
 * could do. posix_spawn N `sleep` processes, wait for SIGTERM, send each
 * SIGTERM and reap them all. No supervision, no restarts, no config. */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    pid_t *pids = calloc(n, sizeof *pids);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    char *args[] = {"sleep", "100000", NULL};
    for (int i = 0; i < n; i++) {
        if (posix_spawn(&pids[i], "/bin/sleep", NULL, &attr, args, environ) != 0) {
            perror("posix_spawn");
            return 1;
        }
    }
    int sig;
    sigwait(&term, &sig);
    for (int i = 0; i < n; i++) kill(pids[i], SIGTERM);
    for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
    return 0;
}
