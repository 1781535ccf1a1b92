/* The server bench/restarts.py restarts under load: one process, one
 * listening TCP socket on 127.0.0.1, each connection answered with a short
 * HTTP/1.0 response and closed.
 *
 * Usage: restart-server PORT LOGFILE [WARMUP_MS]
 *
 * Like a real server it first reads its configuration: it sleeps
 * WARMUP_MS (default 50) before it serves. Then it takes fd 3 when
 * LISTEN_FDS=1 and LISTEN_PID is its PID (socket activation: the socket
 * foster holds), else it binds PORT itself (SO_REUSEADDR, backlog 4096),
 * as it must under a supervisor that holds no socket. Under NOTIFY_SOCKET
 * it sends READY=1 once it serves. It appends "PID\n" to LOGFILE when it
 * serves, so the benchmark counts its runs. SIGTERM is graceful: the
 * answer being written is finished, then it exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_term(int sig) {
    (void)sig;
    stopping = 1;
}

static int own_socket(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("restart-server: listen");
        exit(1);
    }
    return fd;
}

static void notify_ready(void) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof a.sun_path) return;
    memcpy(a.sun_path, path, n);
    if (a.sun_path[0] == '@') a.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&a,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: restart-server PORT LOGFILE [WARMUP_MS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long warmup = argc > 3 ? atol(argv[3]) : 50;
    /* SA_RESTART: a reply being read or written when SIGTERM comes is
     * finished; poll(2) is never restarted, so the loop sees the flag. */
    struct sigaction sa = {.sa_handler = on_term, .sa_flags = SA_RESTART};
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct timespec w = {warmup / 1000, (warmup % 1000) * 1000000L};
    nanosleep(&w, NULL);
    const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
    int listener = (fds && pid && atoi(fds) == 1 && atol(pid) == (long)getpid()) ? 3 : own_socket(port);
    int log = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log >= 0) {
        char line[32];
        int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
        if (write(log, line, (size_t)n) < 0) perror("restart-server: log");
        close(log);
    }
    notify_ready();
    static const char reply[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    while (!stopping) {
        struct pollfd p = {.fd = listener, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        char buf[512];
        struct pollfd q = {.fd = c, .events = POLLIN};
        int ready;
        /* A SIGTERM while the request is awaited must not cut it short. */
        while ((ready = poll(&q, 1, 1000)) < 0 && errno == EINTR) {
        }
        if (ready > 0 && read(c, buf, sizeof buf) > 0) {
            ssize_t done = write(c, reply, sizeof reply - 1);
            (void)done;
        }
        close(c);
    }
    return 0;
}
