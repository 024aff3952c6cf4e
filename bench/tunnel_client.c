/* CONNECT tunnel client for bench/run.sh (never built by CMake, never run in CI or tests).
 *
 *   tunnel_client setup  PROXY_PORT TARGET N   N sequential CONNECT tunnels through the proxy on
 *                                              127.0.0.1:PROXY_PORT to TARGET (host:port): send the
 *                                              CONNECT head, read the 200 head, close. Prints
 *                                              "ok=N rate=T/s p50_us=.. p99_us=..".
 *   tunnel_client direct ORIGIN_PORT N         the reference: N sequential TCP connects to
 *                                              127.0.0.1:ORIGIN_PORT, closed at once; same output.
 *   tunnel_client hold   PROXY_PORT TARGET N   open N CONNECT tunnels (verifying each 200), print
 *                                              "ready N" and hold them idle until SIGTERM/SIGINT
 *                                              (or 300 s), then close them all.
 *
 * Any failure prints "error: ..." on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("error: socket");
    exit(1);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&sa, sizeof sa) != 0) {
    fprintf(stderr, "error: connect 127.0.0.1:%d: %s\n", port, strerror(errno));
    exit(1);
  }
  return fd;
}

/* Sends the CONNECT head and reads the response head; exits unless it is a 200. */
static int open_tunnel(int proxy_port, const char* target) {
  int fd = dial(proxy_port);
  char req[512];
  int n = snprintf(req, sizeof req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
  if (write(fd, req, (size_t)n) != n) {
    perror("error: write");
    exit(1);
  }
  char buf[1024];
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
    if (r <= 0) {
      fprintf(stderr, "error: proxy closed before the CONNECT response head (%s)\n",
              r < 0 ? strerror(errno) : "EOF");
      exit(1);
    }
    got += (size_t)r;
    buf[got] = 0;
    if (strstr(buf, "\r\n\r\n")) break;
    if (got == sizeof buf - 1) {
      fprintf(stderr, "error: CONNECT response head too long\n");
      exit(1);
    }
  }
  if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
    char* eol = strstr(buf, "\r\n");
    if (eol) *eol = 0;
    fprintf(stderr, "error: CONNECT %s answered \"%s\"\n", target, buf);
    exit(1);
  }
  return fd;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static double pct(double* v, int n, double p) {
  int i = (int)(p / 100.0 * n + 0.5) - 1;
  if (i < 0) i = 0;
  if (i >= n) i = n - 1;
  return v[i];
}

static void report(double* lat, int n, double total_us) {
  qsort(lat, (size_t)n, sizeof *lat, cmp_double);
  printf("ok=%d rate=%.0f p50_us=%.1f p99_us=%.1f\n", n, n / (total_us / 1e6), pct(lat, n, 50),
         pct(lat, n, 99));
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s setup|hold PROXY_PORT HOST:PORT N | direct ORIGIN_PORT N\n", argv[0]);
    return 2;
  }
  const char* mode = argv[1];
  int port = atoi(argv[2]);
  if (strcmp(mode, "direct") == 0) {
    int n = atoi(argv[3]);
    double* lat = calloc((size_t)n, sizeof *lat);
    double t0 = now_us();
    for (int i = 0; i < n; ++i) {
      double s = now_us();
      int fd = dial(port);
      lat[i] = now_us() - s;
      close(fd);
    }
    report(lat, n, now_us() - t0);
    return 0;
  }
  if (argc < 5) return 2;
  const char* target = argv[3];
  int n = atoi(argv[4]);
  if (strcmp(mode, "setup") == 0) {
    double* lat = calloc((size_t)n, sizeof *lat);
    double t0 = now_us();
    for (int i = 0; i < n; ++i) {
      double s = now_us();
      int fd = open_tunnel(port, target);
      lat[i] = now_us() - s;
      close(fd);
    }
    report(lat, n, now_us() - t0);
    return 0;
  }
  if (strcmp(mode, "hold") == 0) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int* fds = calloc((size_t)n, sizeof *fds);
    for (int i = 0; i < n; ++i) fds[i] = open_tunnel(port, target);
    printf("ready %d\n", n);
    fflush(stdout);
    for (int waited = 0; !stop && waited < 300; ++waited) sleep(1);
    for (int i = 0; i < n; ++i) close(fds[i]);
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
