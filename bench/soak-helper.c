/* Helper programs for bench/soak.py, in C so that each round costs
 * microseconds rather than a shell's or Python's start-up.
 *
 * soak-helper crashd PIDFILE LIFE_MS
 *     A self-daemonizing program that crashes: the launcher forks, the
 *     child calls setsid and forks again, the grandchild is the daemon.
 *     The launcher exits 0 once the middle child is gone. The daemon
 *     writes its PID to a temporary file, rename()s it onto PIDFILE,
 *     sleeps LIFE_MS milliseconds and exits 1 (a daemon that crashes soon
 *     after starting, over and over).
 *
 * soak-helper orphans N
 *     Makes N orphans: N double forks, the middle child exiting at once so
 *     that the grandchild is reparented to the nearest subreaper or PID 1.
 *     Every other grandchild exits at once (often before its parent, so it
 *     is reparented as a zombie); the others sleep 1 ms first. Waits for
 *     each middle child, then exits 0 (1 if a fork failed for good).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    _exit(1);
}

static void sleep_ms(long ms) {
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) < 0 && errno == EINTR)
        ;
}

static int crashd(const char *pidfile, long life_ms) {
    pid_t middle = fork();
    if (middle < 0)
        die("fork");
    if (middle > 0) {
        int status;
        if (waitpid(middle, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 1;
        return 0;
    }
    if (setsid() < 0)
        die("setsid");
    pid_t daemon = fork();
    if (daemon < 0)
        die("fork");
    if (daemon > 0)
        _exit(0);

    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
    char tmp[4096], line[32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", pidfile, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("open pidfile");
    int len = snprintf(line, sizeof line, "%d\n", (int)getpid());
    if (write(fd, line, (size_t)len) != len)
        die("write pidfile");
    close(fd);
    if (rename(tmp, pidfile) < 0)
        die("rename");
    sleep_ms(life_ms);
    _exit(1);
}

static int orphans(long n) {
    int failed = 0;
    for (long i = 0; i < n; i++) {
        pid_t middle;
        int tries = 0;
        while ((middle = fork()) < 0) {
            /* EAGAIN under a pids limit: let the reaper catch up. */
            if (errno != EAGAIN || ++tries > 1000) {
                perror("fork");
                return 1;
            }
            sleep_ms(1);
        }
        if (middle == 0) {
            pid_t orphan = fork();
            if (orphan == 0) {
                if (i % 2)
                    sleep_ms(1);
                _exit(0);
            }
            _exit(orphan < 0 ? 1 : 0);
        }
        int status;
        if (waitpid(middle, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed = 1;
    }
    return failed;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "crashd") == 0)
        return crashd(argv[2], atol(argv[3]));
    if (argc == 3 && strcmp(argv[1], "orphans") == 0)
        return orphans(atol(argv[2]));
    fprintf(stderr, "usage: %s crashd PIDFILE LIFE_MS | orphans N\n", argv[0]);
    return 2;
}
