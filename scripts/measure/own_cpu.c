/* Preloaded into a tool, appends "comm user_ms system_ms" of the whole process
 * (all its threads, not its children) to $OWN_CPU_LOG when it exits. Children that
 * inherit the preload are skipped unless their name starts with $OWN_CPU_COMM. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

__attribute__((destructor)) static void report(void) {
    const char *want = getenv("OWN_CPU_COMM");
    const char *path = getenv("OWN_CPU_LOG");
    char comm[64] = {0};
    int fd = open("/proc/self/comm", O_RDONLY);
    if (fd < 0 || !want || !path) return;
    ssize_t n = read(fd, comm, sizeof comm - 1);
    close(fd);
    if (n <= 0 || strncmp(comm, want, strlen(want)) != 0) return;
    comm[strcspn(comm, "\n")] = 0;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    FILE *log = fopen(path, "a");
    if (!log) return;
    fprintf(log, "%s %.2f %.2f\n", comm, usage.ru_utime.tv_sec * 1e3 + usage.ru_utime.tv_usec / 1e3,
            usage.ru_stime.tv_sec * 1e3 + usage.ru_stime.tv_usec / 1e3);
    fclose(log);
}
