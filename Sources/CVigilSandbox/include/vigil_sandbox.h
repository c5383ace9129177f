#ifndef VIGIL_SANDBOX_H
#define VIGIL_SANDBOX_H

/*
 * Starts a pipeline's external command in a sandbox: its own session and process group (so a time-out kills
 * everything it started), only the descriptors it is given, signals at their defaults, resource limits, no way
 * to gain privileges (no_new_privs), and, when asked, an unprivileged user and group with no supplementary
 * groups. Foundation's Process can do none of the privilege or limit parts, and a fork child may only make
 * async-signal-safe calls, so this is C.
 */

#include <sys/types.h>

typedef struct {
    /* The program, resolved to a path by the caller (execve does no PATH search). */
    const char *path;
    /* NULL-terminated. */
    char *const *argv;
    char *const *envp;
    const char *working_directory;
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /* Non-zero: switch to uid/gid (and no supplementary groups) before exec. */
    int switch_user;
    uid_t uid;
    gid_t gid;
    /* RLIMIT_AS in bytes; 0 leaves it. */
    long long memory_bytes;
    /* RLIMIT_FSIZE in bytes (the largest file it may write); 0 leaves it. */
    long long file_bytes;
    /* RLIMIT_NPROC; 0 leaves it. */
    long long processes;
    /* Non-NULL: bind this folder at /pfs in a mount namespace of the command's own (root only; /pfs must
       exist). */
    const char *pfs_folder;
} vigil_sandbox_request;

/*
 * Forks and execs. On success returns 0 and sets *pid (also the process group id). On failure returns an
 * errno value and sets *stage to what failed: 1 fork, 2 the descriptors, 3 the limits, 4 the user, 5
 * no_new_privs, 6 the working directory, 7 exec, 8 mounting /pfs.
 */
int vigil_sandbox_spawn(const vigil_sandbox_request *request, pid_t *pid, int *stage);

/*
 * Whether this process may give a child a mount namespace of its own (root with CAP_SYS_ADMIN): 0, or an
 * errno value. Forks once; blocking.
 */
int vigil_sandbox_can_mount(void);

/*
 * Waits until `pid` has ended without reaping it, so its pid (and process group id) cannot be reused while
 * the caller kills what is left of the group. Blocking: call it off the cooperative thread pool. Returns 0
 * or an errno value.
 */
int vigil_sandbox_wait_exited(pid_t pid);

/*
 * Reaps `pid`. Returns its status as waitpid gives it (decode with the W* macros below), or -1 with errno.
 */
int vigil_sandbox_reap(pid_t pid);

/* WIFEXITED and friends are macros: functions for Swift. */
int vigil_sandbox_exited(int status);
int vigil_sandbox_exit_code(int status);
int vigil_sandbox_signalled(int status);
int vigil_sandbox_signal(int status);

#endif
