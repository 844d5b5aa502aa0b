/*
 * tcp-probe IPV4 PORT: exits 0 if a TCP connection to IPV4:PORT opens within
 * 5 seconds, 1 otherwise. Shipped in the testbed's pause image so a test pod
 * can show that pods reach the API server through the `kubernetes` Service.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s IPV4 PORT\n", argv[0]);
    return 2;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
    fprintf(stderr, "not an IPv4 address: %s\n", argv[1]);
    return 2;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    perror("socket");
    return 1;
  }
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    perror("connect");
    return 1;
  }
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int err = 0;
  socklen_t len = sizeof err;
  if (poll(&p, 1, 5000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
    fprintf(stderr, "no connection to %s:%s: %s\n", argv[1], argv[2], err ? strerror(err) : "timed out");
    return 1;
  }
  printf("connected to %s:%s\n", argv[1], argv[2]);
  return 0;
}
