"""The measuring WebSocket client of `gatebook bench-md --client c`, in C, built when first used.

# Ref: RFC 6455 (The WebSocket Protocol) sections 4.1 (the client's
#      handshake) and 5.2 (base framing).

The same clients as ws_load.py's "raw" kind (its arguments, its `connected N`
line, its JSON report), written in C so that reading a message costs the
kernel's receive and little else: on two shared cores, the clients' CPU is
taken from the servers being measured. `build()` compiles the source below
with the system's C compiler into a cache directory named by its hash, once.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

__all__ = ["build", "SOURCE"]

SOURCE = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SAMPLE_EVERY 7
#define SLOW_READ_NS 200000000LL
#define BUFFER (1 << 18)
#define MAX_DELAYS (1 << 22)
#define NS_PER_DAY 86400000000000LL

enum { HANDSHAKE, HELLO, OPEN, DEAD };
typedef struct { int fd, slow, index, state; long count; size_t used; unsigned char *buf; } Client;

static char symbols[256][16]; static int symbol_count;
static long connected, failed, messages, slow_messages, delays_n;
static long *delays;

static long long now_ns(clockid_t clock) {
    struct timespec t; clock_gettime(clock, &t); return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int send_all(int fd, const unsigned char *data, size_t size) {
    while (size) {
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0) { if (errno == EAGAIN || errno == EINTR) continue; return -1; }
        data += n; size -= n;
    }
    return 0;
}

static int send_frame(int fd, int opcode, const char *payload, size_t size) {
    unsigned char frame[512]; size_t at = 0; unsigned char mask[4];
    if (size > 400) return -1;
    for (int i = 0; i < 4; i++) mask[i] = (unsigned char)rand();
    frame[at++] = 0x80 | opcode;
    if (size < 126) frame[at++] = 0x80 | size;
    else { frame[at++] = 0x80 | 126; frame[at++] = size >> 8; frame[at++] = size & 0xFF; }
    memcpy(frame + at, mask, 4); at += 4;
    for (size_t i = 0; i < size; i++) frame[at++] = payload[i] ^ mask[i % 4];
    return send_all(fd, frame, at);
}

static void parse_symbols(const char *text, size_t size) {
    const char *at = memmem(text, size, "\"symbols\":[", 11), *end = text + size;
    if (!at) return;
    at += 11;
    while (at < end && *at != ']' && symbol_count < 256) {
        if (*at == '"') {
            const char *close = memchr(at + 1, '"', end - at - 1);
            if (!close || close - at - 1 >= 16) return;
            memcpy(symbols[symbol_count], at + 1, close - at - 1);
            symbols[symbol_count++][close - at - 1] = 0;
            at = close + 1;
        } else at++;
    }
}

/* Frames in the client's buffer; -1 when the connection must end. */
static int on_frames(Client *c) {
    size_t at = 0;
    while (c->used - at >= 2) {
        unsigned char *f = c->buf + at; int opcode = f[0] & 0x0F;
        uint64_t size = f[1] & 0x7F; size_t head = 2;
        if (size == 126) { if (c->used - at < 4) break; size = (f[2] << 8) | f[3]; head = 4; }
        else if (size == 127) {
            if (c->used - at < 10) break;
            size = 0; for (int i = 2; i < 10; i++) size = (size << 8) | f[i]; head = 10;
        }
        if (head + size > BUFFER) return -1;
        if (c->used - at < head + size) break;
        char *payload = (char *)f + head;
        if (opcode == 0x9) { if (send_frame(c->fd, 0xA, payload, size) < 0) return -1; }
        else if (opcode == 0x8) return -1;
        else if (opcode == 0x1) {
            if (c->state == HELLO) {
                char request[128];
                if (!symbol_count) parse_symbols(payload, size);
                if (!symbol_count) return -1;
                int n = snprintf(request, sizeof request, "{\"op\":\"subscribe\",\"symbol\":\"%s\","
                                 "\"channels\":[\"l2\"],\"depth\":10}",
                                 symbols[c->index % symbol_count]);
                if (send_frame(c->fd, 0x1, request, n) < 0) return -1;
                c->state = OPEN; connected++;
            } else if (c->slow) slow_messages++;
            else {
                messages++;
                if (++c->count % SAMPLE_EVERY == 0 && size > 12 && !memcmp(payload, "{\"type\":\"l2\"", 12)) {
                    char *ts = memmem(payload, size, "\"ts\":", 5);
                    if (ts && delays_n < MAX_DELAYS) {
                        long long stamp = strtoll(ts + 5, NULL, 10);
                        long long delay = now_ns(CLOCK_REALTIME) % NS_PER_DAY - stamp;
                        if (stamp && delay >= 0 && delay < 60000000000LL) delays[delays_n++] = delay / 1000;
                    }
                }
            }
        }
        at += head + size;
    }
    memmove(c->buf, c->buf + at, c->used - at); c->used -= at;
    return 0;
}

/* Read what is there (at most `limit` bytes); -1 when the connection ended. */
static int on_readable(Client *c, size_t limit) {
    size_t room = BUFFER - c->used; if (room > limit) room = limit;
    ssize_t n = recv(c->fd, c->buf + c->used, room, 0);
    if (n == 0) return -1;
    if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    c->used += n;
    if (c->state == HANDSHAKE) {
        unsigned char *end = memmem(c->buf, c->used, "\r\n\r\n", 4);
        if (!end) return 0;
        if (c->used < 12 || memcmp(c->buf, "HTTP/1.1 101", 12)) return -1;
        size_t head = end + 4 - c->buf;
        memmove(c->buf, c->buf + head, c->used - head); c->used -= head; c->state = HELLO;
    }
    return on_frames(c);
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: KIND HOST:PORT[,...] CLIENTS SLOW SECONDS FIRST\n"); return 2; }
    int count = atoi(argv[3]), slow = atoi(argv[4]), first = atoi(argv[6]);
    double seconds = atof(argv[5]);
    struct sockaddr_in servers[64]; int server_count = 0;
    for (char *item = strtok(argv[2], ","); item && server_count < 64; item = strtok(NULL, ",")) {
        char *colon = strrchr(item, ':'); if (!colon) return 2; *colon = 0;
        memset(&servers[server_count], 0, sizeof servers[0]);
        servers[server_count].sin_family = AF_INET;
        servers[server_count].sin_port = htons(atoi(colon + 1));
        if (inet_pton(AF_INET, item, &servers[server_count].sin_addr) != 1) return 2;
        server_count++;
    }
    delays = malloc(sizeof(long) * MAX_DELAYS);
    Client *clients = calloc(count, sizeof(Client));
    int ep = epoll_create1(0);
    struct epoll_event event = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &event);                /* stdin: closed means the end */
    for (int i = 0; i < count; i++) {
        Client *c = &clients[i]; struct sockaddr_in *to = &servers[(first + i) % server_count];
        c->slow = i < slow; c->index = first + i; c->state = DEAD;
        c->fd = socket(AF_INET, SOCK_STREAM, 0); c->buf = malloc(BUFFER);
        char request[256], host[32];
        inet_ntop(AF_INET, &to->sin_addr, host, sizeof host);
        int n = snprintf(request, sizeof request, "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n", host, ntohs(to->sin_port));
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)to, sizeof *to) < 0
                || send_all(c->fd, (unsigned char *)request, n) < 0) { failed++; continue; }
        int one = 1; setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->state = HANDSHAKE;
        event.data.ptr = c; epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &event);
    }
    long long until = now_ns(CLOCK_MONOTONIC) + (long long)(seconds * 1e9), next_slow = 0;
    double cpu_connected = 0; int announced = 0, ended = 0;
    struct epoll_event ready[256];
    while (!ended && now_ns(CLOCK_MONOTONIC) < until) {
        if (!announced && connected + failed >= count) {
            printf("connected %ld\n", connected); fflush(stdout); announced = 1;
            cpu_connected = now_ns(CLOCK_PROCESS_CPUTIME_ID) / 1e9;
        }
        int n = epoll_wait(ep, ready, 256, 50);
        for (int i = 0; i < n; i++) {
            Client *c = ready[i].data.ptr;
            if (!c) { char byte; if (read(0, &byte, 1) <= 0) ended = 1; continue; }
            int done = on_readable(c, BUFFER);
            if (done == 0 && c->slow && c->state == OPEN)           /* paced from here on */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            if (done < 0) {
                failed++; c->state = DEAD;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd);
            }
        }
        long long now = now_ns(CLOCK_MONOTONIC);
        if (now >= next_slow) {                         /* slow readers: 256 bytes each 200 ms */
            next_slow = now + SLOW_READ_NS;
            for (int i = 0; i < count; i++) {
                Client *c = &clients[i];
                if (c->slow && c->state == OPEN) {
                    ssize_t got = recv(c->fd, c->buf + c->used, 256 < BUFFER - c->used ? 256 : BUFFER - c->used, MSG_DONTWAIT);
                    if (got == 0 || (got < 0 && errno != EAGAIN)) { failed++; c->state = DEAD; close(c->fd); continue; }
                    if (got > 0) { c->used += got; if (on_frames(c) < 0) { failed++; c->state = DEAD; close(c->fd); } }
                }
            }
        }
    }
    if (!announced) { printf("connected %ld\n", connected); cpu_connected = now_ns(CLOCK_PROCESS_CPUTIME_ID) / 1e9; }
    printf("{\"connected\": %ld, \"failed\": %ld, \"messages\": %ld, \"slow_messages\": %ld, "
           "\"cpu_seconds\": %.6f, \"delays_us\": [", connected, failed, messages, slow_messages,
           now_ns(CLOCK_PROCESS_CPUTIME_ID) / 1e9 - cpu_connected);
    for (long i = 0; i < delays_n; i++) printf(i ? ",%ld" : "%ld", delays[i]);
    printf("]}\n");
    return 0;
}
"""


def build(cache=None):
    """The client's executable, compiled with `cc` on first use (cached by the source's hash).

    Raises RuntimeError when no C compiler is found or the build fails.
    """
    digest = hashlib.sha256(SOURCE.encode()).hexdigest()[:16]
    cache = cache or os.path.join(os.environ.get("XDG_CACHE_HOME")
                                  or os.path.join(os.path.expanduser("~"), ".cache"), "gatebook")
    path = os.path.join(cache, f"ws_load-{digest}")
    if os.path.exists(path):
        return path
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        raise RuntimeError("bench-md --client c needs a C compiler (cc, or $CC)")
    os.makedirs(cache, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        source = os.path.join(work, "ws_load.c")
        with open(source, "w") as file:
            file.write(SOURCE)
        output = os.path.join(work, "ws_load")
        result = subprocess.run([compiler, "-O2", "-Wall", "-o", output, source],
                                capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"building the C client failed:\n{result.stderr}")
        os.replace(output, path)            # atomic: a concurrent build loses nothing
    return path
