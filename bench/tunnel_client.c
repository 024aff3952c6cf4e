/* Tunnel and bulk client for bench/run.sh (never built by CMake, never run in CI or tests).
 * Loopback only: every address it dials is 127.0.0.1.
 *
 *   tunnel_client setup  PROXY_PORT TARGET N   N sequential CONNECT tunnels through the HTTP proxy
 *                                              on 127.0.0.1:PROXY_PORT to TARGET (IPv4:port): send
 *                                              the CONNECT head, read the 200 head, close. Prints
 *                                              "ok=N rate=T/s p50_us=.. p99_us=..".
 *   tunnel_client socks-setup PROXY_PORT TARGET N
 *                                              the same through a SOCKS5 proxy: greeting (no auth),
 *                                              CONNECT to the IPv4 TARGET, read the success reply,
 *                                              close.
 *   tunnel_client direct ORIGIN_PORT N         the reference: N sequential TCP connects to
 *                                              127.0.0.1:ORIGIN_PORT, closed at once; same output.
 *   tunnel_client hold   PROXY_PORT TARGET N   open N CONNECT tunnels (verifying each 200), print
 *                                              "ready N" and hold them idle until SIGTERM/SIGINT
 *                                              (or 300 s), then close them all.
 *   tunnel_client socks-hold PROXY_PORT TARGET N
 *                                              the same with SOCKS5 tunnels.
 *   tunnel_client get MODE PORT TARGET PATH    one HTTP/1.1 GET of PATH from TARGET, body read with a
 *                                              1 MiB buffer and discarded. MODE: direct (PORT is
 *                                              ignored, TARGET dialled), connect (CONNECT tunnel
 *                                              through the HTTP proxy on PORT), socks (SOCKS5
 *                                              tunnel through PORT). The time runs from the first
 *                                              connect to the last body byte. Prints
 *                                              "bytes=.. seconds=.. mbps=.." (MB/s, 10^6 bytes).
 *
 * A cheap client matters for the bulk numbers: curl copies through a 16 KiB buffer and, on two
 * cores, becomes the limit before a splice relay does.
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

static void die(const char* what) {
  fprintf(stderr, "error: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
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

static void write_all(int fd, const void* p, size_t n) {
  const char* c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    c += w;
    n -= (size_t)w;
  }
}

static void read_exact(int fd, unsigned char* p, size_t n, const char* what) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fprintf(stderr, "error: %s: %s\n", what, r < 0 ? strerror(errno) : "EOF");
      exit(1);
    }
    p += r;
    n -= (size_t)r;
  }
}

/* Reads an HTTP response head (up to and including the blank line) into buf; returns its length.
 * Bytes after the head that arrived in the same read are left in buf after the head; *extra says
 * how many. */
static size_t read_head(int fd, char* buf, size_t cap, size_t* extra, const char* what) {
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, buf + got, cap - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fprintf(stderr, "error: %s: closed before the response head (%s)\n", what,
              r < 0 ? strerror(errno) : "EOF");
      exit(1);
    }
    got += (size_t)r;
    buf[got] = 0;
    char* end = strstr(buf, "\r\n\r\n");
    if (end) {
      size_t head = (size_t)(end - buf) + 4;
      *extra = got - head;
      return head;
    }
    if (got == cap - 1) {
      fprintf(stderr, "error: %s: response head too long\n", what);
      exit(1);
    }
  }
}

static void split_target(const char* target, struct in_addr* ip, int* port) {
  char host[64];
  const char* colon = strrchr(target, ':');
  if (!colon || (size_t)(colon - target) >= sizeof host) {
    fprintf(stderr, "error: target %s is not IPv4:port\n", target);
    exit(1);
  }
  memcpy(host, target, (size_t)(colon - target));
  host[colon - target] = 0;
  if (inet_pton(AF_INET, host, ip) != 1) {
    fprintf(stderr, "error: target %s is not IPv4:port\n", target);
    exit(1);
  }
  *port = atoi(colon + 1);
}

/* Sends the CONNECT head and reads the response head; exits unless it is a 200. */
static int open_tunnel(int proxy_port, const char* target) {
  int fd = dial(proxy_port);
  char req[512];
  int n = snprintf(req, sizeof req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
  write_all(fd, req, (size_t)n);
  char buf[2048];
  size_t extra;
  read_head(fd, buf, sizeof buf, &extra, "CONNECT");
  if (strncmp(buf, "HTTP/1.1 200", 12) != 0 && strncmp(buf, "HTTP/1.0 200", 12) != 0) {
    char* eol = strstr(buf, "\r\n");
    if (eol) *eol = 0;
    fprintf(stderr, "error: CONNECT %s answered \"%s\"\n", target, buf);
    exit(1);
  }
  if (extra != 0) {
    fprintf(stderr, "error: CONNECT %s: bytes after the 200 head\n", target);
    exit(1);
  }
  return fd;
}

/* SOCKS5 (RFC 1928) without authentication, as curl does it: greeting, method reply, CONNECT to
 * the IPv4 target, reply. */
static int open_socks(int proxy_port, const char* target) {
  struct in_addr ip;
  int port;
  split_target(target, &ip, &port);
  int fd = dial(proxy_port);
  const unsigned char greet[3] = {5, 1, 0};
  write_all(fd, greet, sizeof greet);
  unsigned char rep[4];
  read_exact(fd, rep, 2, "SOCKS5 method reply");
  if (rep[0] != 5 || rep[1] != 0) {
    fprintf(stderr, "error: SOCKS5 method reply %u %u\n", rep[0], rep[1]);
    exit(1);
  }
  unsigned char req[10] = {5, 1, 0, 1};
  memcpy(req + 4, &ip, 4);
  req[8] = (unsigned char)(port >> 8);
  req[9] = (unsigned char)(port & 0xff);
  write_all(fd, req, sizeof req);
  read_exact(fd, rep, 4, "SOCKS5 reply");
  if (rep[0] != 5 || rep[1] != 0) {
    fprintf(stderr, "error: SOCKS5 CONNECT %s answered REP=%u\n", target, rep[1]);
    exit(1);
  }
  size_t rest;
  if (rep[3] == 1)
    rest = 4 + 2;
  else if (rep[3] == 4)
    rest = 16 + 2;
  else if (rep[3] == 3) {
    unsigned char len;
    read_exact(fd, &len, 1, "SOCKS5 reply");
    rest = (size_t)len + 2;
  } else {
    fprintf(stderr, "error: SOCKS5 reply ATYP=%u\n", rep[3]);
    exit(1);
  }
  unsigned char skip[256 + 2];
  read_exact(fd, skip, rest, "SOCKS5 reply address");
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

static int get(const char* mode, int port, const char* target, const char* path) {
  struct in_addr ip;
  int tport;
  split_target(target, &ip, &tport);
  double t0 = now_us();
  int fd;
  if (strcmp(mode, "direct") == 0)
    fd = dial(tport);
  else if (strcmp(mode, "connect") == 0)
    fd = open_tunnel(port, target);
  else if (strcmp(mode, "socks") == 0)
    fd = open_socks(port, target);
  else {
    fprintf(stderr, "error: unknown get mode %s\n", mode);
    return 2;
  }
  char req[512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                   path, target);
  write_all(fd, req, (size_t)n);
  enum { CAP = 1 << 20 };
  char* buf = malloc(CAP);
  size_t extra;
  size_t head = read_head(fd, buf, 8192, &extra, "GET");
  if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0) {
    char* eol = strstr(buf, "\r\n");
    if (eol) *eol = 0;
    fprintf(stderr, "error: GET %s answered \"%s\"\n", path, buf);
    return 1;
  }
  const char* cl = strcasestr(buf, "\r\ncontent-length:");
  if (!cl || cl > buf + head) {
    fprintf(stderr, "error: GET %s: no Content-Length\n", path);
    return 1;
  }
  long long want = atoll(cl + 17);
  long long have = (long long)extra;
  while (have < want) {
    ssize_t r = read(fd, buf, CAP);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fprintf(stderr, "error: GET %s: body ended after %lld of %lld bytes (%s)\n", path, have, want,
              r < 0 ? strerror(errno) : "EOF");
      return 1;
    }
    have += r;
  }
  double secs = (now_us() - t0) / 1e6;
  close(fd);
  printf("bytes=%lld seconds=%.4f mbps=%.1f\n", have, secs, have / secs / 1e6);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr,
            "usage: %s setup|socks-setup|hold|socks-hold PROXY_PORT IPV4:PORT N\n"
            "       %s direct ORIGIN_PORT N\n"
            "       %s get direct|connect|socks PROXY_PORT IPV4:PORT PATH\n",
            argv[0], argv[0], argv[0]);
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
  if (strcmp(mode, "get") == 0) {
    if (argc < 6) return 2;
    return get(argv[2], atoi(argv[3]), argv[4], argv[5]);
  }
  const char* target = argv[3];
  int n = atoi(argv[4]);
  int socks = strncmp(mode, "socks-", 6) == 0;
  const char* op = socks ? mode + 6 : mode;
  if (strcmp(op, "setup") == 0) {
    double* lat = calloc((size_t)n, sizeof *lat);
    double t0 = now_us();
    for (int i = 0; i < n; ++i) {
      double s = now_us();
      int fd = socks ? open_socks(port, target) : open_tunnel(port, target);
      lat[i] = now_us() - s;
      close(fd);
    }
    report(lat, n, now_us() - t0);
    return 0;
  }
  if (strcmp(op, "hold") == 0) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int* fds = calloc((size_t)n, sizeof *fds);
    for (int i = 0; i < n; ++i) fds[i] = socks ? open_socks(port, target) : open_tunnel(port, target);
    printf("ready %d\n", n);
    fflush(stdout);
    for (int waited = 0; !stop && waited < 300; ++waited) sleep(1);
    for (int i = 0; i < n; ++i) close(fds[i]);
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
