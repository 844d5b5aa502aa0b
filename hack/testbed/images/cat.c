/*
 * cat FILE...: writes each FILE to stdout. Shipped in the testbed's pause
 * image so a test can read what a pod's own kernel says (/proc/version)
 * with `kubectl exec`: gVisor's, in a sandbox that really isolates.
 */
#include <stdio.h>

int main(int argc, char **argv) {
  int status = 0;
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "r");
    if (f == NULL) {
      perror(argv[i]);
      status = 1;
      continue;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
  }
  return status;
}
