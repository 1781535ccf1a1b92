/* A self-daemonizing program for bench/tracking.py, the way classic
 * daemons do it: the launcher forks, the child calls setsid and forks
 * again, the grandchild is the daemon. The daemon waits until the launcher
 * has exited (EOF on a pipe whose write end only the launcher and the
 * middle child hold), optionally DELAY_MS more, writes its PID to a
 * temporary file and rename()s it onto PIDFILE. Right before the rename it
 * reads CLOCK_MONOTONIC; after it, it appends "PID NANOSECONDS\n" to
 * STAMPS, so the benchmark knows when the pidfile appeared. Then it sleeps
 * until killed.
 *
 * With a fourth argument "redaemonize", each SIGHUP makes the daemon
 * daemonize again, as a daemon that re-executes itself on reload does: it
 * forks, appends "-PID NANOSECONDS\n" (its own exit) to STAMPS and exits
 * 0; the child calls setsid, waits DELAY_MS, and writes the pidfile and its
 * stamp as above, so its predecessor is gone before the pidfile names it.
 *
 * usage: daemon PIDFILE STAMPS [DELAY_MS [redaemonize]] */
#include <fcntl.h>
#include <signal.h>
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

static void write_all(int fd, const char *buf, size_t len, const char *what) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0)
            die(what);
        buf += n;
        len -= (size_t)n;
    }
}

static long long monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

static void stamp(const char *stamps, long pid, long long ns) {
    char line[64];
    int len = snprintf(line, sizeof line, "%ld %lld\n", pid, ns);
    int fd = open(stamps, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        die("open stamps");
    write_all(fd, line, (size_t)len, "write stamps");
    close(fd);
}

static void nap(long ms) {
    if (ms > 0) {
        struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&d, &d) < 0)
            ;
    }
}

/* Writes the pidfile (a temporary file renamed into place), then stamps
 * the time taken right before the rename. */
static void write_pidfile(const char *pidfile, const char *stamps) {
    char tmp[4096], line[64];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", pidfile, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("open pidfile");
    int len = snprintf(line, sizeof line, "%d\n", (int)getpid());
    write_all(fd, line, (size_t)len, "write pidfile");
    close(fd);
    long long ns = monotonic_ns();
    if (rename(tmp, pidfile) < 0)
        die("rename");
    stamp(stamps, (long)getpid(), ns);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PIDFILE STAMPS [DELAY_MS]\n", argv[0]);
        return 2;
    }
    const char *pidfile = argv[1], *stamps = argv[2];
    long delay_ms = argc > 3 ? atol(argv[3]) : 0;
    int redaemonize = argc > 4 && strcmp(argv[4], "redaemonize") == 0;
    int gate[2];
    if (pipe(gate) < 0)
        die("pipe");
    pid_t middle = fork();
    if (middle < 0)
        die("fork");
    if (middle > 0) {
        /* The launcher: exits 0 once the middle child has forked the
         * daemon, closing its end of the gate. */
        close(gate[0]);
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

    close(gate[1]);
    char c;
    while (read(gate[0], &c, 1) > 0)
        ;
    close(gate[0]);
    nap(delay_ms);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }

    write_pidfile(pidfile, stamps);
    if (!redaemonize)
        for (;;)
            pause();
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sigprocmask(SIG_BLOCK, &hup, NULL);
    for (;;) {
        int sig;
        if (sigwait(&hup, &sig) != 0)
            continue;
        pid_t child = fork();
        if (child < 0)
            die("fork");
        if (child > 0) {
            stamp(stamps, -(long)getpid(), monotonic_ns());
            _exit(0);
        }
        if (setsid() < 0)
            die("setsid");
        nap(delay_ms);
        write_pidfile(pidfile, stamps);
    }
}
