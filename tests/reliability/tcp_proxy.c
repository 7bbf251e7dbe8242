/*
 * A small TCP forwarding proxy for outage tests (queue_outage.sh): it sits
 * between a client and a server on loopback so the test can take the
 * network path away without touching the server (which, like Azure Storage,
 * keeps its data through an outage).
 *
 *   tcp-proxy [--port PORT] TARGET-HOST:TARGET-PORT
 *
 * Listens on 127.0.0.1:PORT (default 0 = an ephemeral port; SO_REUSEADDR,
 * so a restarted proxy gets the same port back) and prints "PORT n" on
 * stdout once it accepts connections. Every accepted connection gets its
 * own connection to the target; bytes are copied both ways until either
 * side closes, then both are closed. One thread, poll(2).
 *
 * What the test does with it: kill it (connection refused, like an
 * endpoint that is down), SIGSTOP it (connections are accepted by the
 * kernel but nothing answers: timeouts), SIGCONT it, start it again on the
 * same port. SIGTERM/SIGINT end it cleanly. Exit 2 on bad usage, 1 when it
 * cannot listen (e.g. the port is taken).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PAIRS 64
#define BUF_SIZE (64 * 1024)

typedef struct pair {
	int fd[2];                 /* [0] client, [1] target; -1 = unused */
} pair;

static volatile sig_atomic_t stop;
static pair pairs[MAX_PAIRS];
static char buf[BUF_SIZE];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void close_pair(pair *p)
{
	if (p->fd[0] >= 0)
		close(p->fd[0]);
	if (p->fd[1] >= 0)
		close(p->fd[1]);
	p->fd[0] = p->fd[1] = -1;
}

static int connect_target(const struct addrinfo *target)
{
	int fd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, target->ai_addr, target->ai_addrlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_on(int port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		fprintf(stderr, "tcp-proxy: cannot listen on 127.0.0.1:%d: %s\n", port,
			strerror(errno));
		close(fd);
		return -1;
	}
	printf("PORT %d\n", ntohs(a.sin_port));
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	struct pollfd pfd[1 + 2 * MAX_PAIRS];
	int owner[1 + 2 * MAX_PAIRS];
	struct addrinfo hints, *target = NULL;
	struct sigaction sa;
	char host[256], *colon;
	const char *spec;
	int port = 0, lfd, i, n;

	if (argc == 4 && strcmp(argv[1], "--port") == 0) {
		port = atoi(argv[2]);
		spec = argv[3];
	} else if (argc == 2) {
		spec = argv[1];
	} else {
		fprintf(stderr, "usage: tcp-proxy [--port PORT] TARGET-HOST:TARGET-PORT\n");
		return 2;
	}
	snprintf(host, sizeof(host), "%s", spec);
	if (!(colon = strrchr(host, ':')) || port < 0 || port > 65535) {
		fprintf(stderr, "tcp-proxy: bad target '%s' (HOST:PORT) or port\n", spec);
		return 2;
	}
	*colon = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &target) != 0 || !target) {
		fprintf(stderr, "tcp-proxy: cannot resolve '%s'\n", spec);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < MAX_PAIRS; i++)
		pairs[i].fd[0] = pairs[i].fd[1] = -1;
	if ((lfd = listen_on(port)) < 0) {
		freeaddrinfo(target);
		return 1;
	}

	while (!stop) {
		n = 0;
		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		owner[n++] = -1;
		for (i = 0; i < MAX_PAIRS; i++) {
			if (pairs[i].fd[0] < 0)
				continue;
			pfd[n].fd = pairs[i].fd[0];
			pfd[n].events = POLLIN;
			owner[n++] = 2 * i;
			pfd[n].fd = pairs[i].fd[1];
			pfd[n].events = POLLIN;
			owner[n++] = 2 * i + 1;
		}
		if (poll(pfd, (nfds_t)n, 500) < 0) {
			if (errno == EINTR)
				continue;
			perror("tcp-proxy: poll");
			break;
		}
		for (i = 1; i < n; i++) {
			pair *p;
			int side, other;
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			p = &pairs[owner[i] / 2];
			side = owner[i] % 2;
			if (p->fd[side] != pfd[i].fd)
				continue;       /* closed earlier in this round */
			other = p->fd[1 - side];
			r = read(pfd[i].fd, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0 || write_all(other, buf, (size_t)r) < 0)
				close_pair(p);
		}
		if (pfd[0].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), tfd;
			pair *slot = NULL;

			if (cfd < 0)
				continue;
			for (i = 0; i < MAX_PAIRS && !slot; i++)
				if (pairs[i].fd[0] < 0)
					slot = &pairs[i];
			if (!slot || (tfd = connect_target(target)) < 0) {
				close(cfd);     /* no room, or the target is down: drop it */
				continue;
			}
			slot->fd[0] = cfd;
			slot->fd[1] = tfd;
		}
	}
	for (i = 0; i < MAX_PAIRS; i++)
		close_pair(&pairs[i]);
	close(lfd);
	freeaddrinfo(target);
	return 0;
}
