#define _GNU_SOURCE
#include "vigil_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child reports (stage, errno) through a close-on-exec pipe: end of file means exec succeeded. */
static void fail(int pipe_fd, int stage) {
    int report[2] = {stage, errno};
    ssize_t ignored = write(pipe_fd, report, sizeof report);
    (void)ignored;
    _exit(127);
}

static int set_limit(int resource, long long value) {
    if (value <= 0) return 0;
    struct rlimit limit = {(rlim_t)value, (rlim_t)value};
    return setrlimit(resource, &limit);
}

static int close_others(int keep) {
    /* close_range (Linux 5.9) around the report pipe; fall back to a bounded loop. */
    if (keep > 3 && syscall(SYS_close_range, 3, keep - 1, 0) != 0) {
        for (int fd = 3; fd < keep; fd++) close(fd);
    }
    if (syscall(SYS_close_range, keep + 1, ~0U, 0) != 0) {
        for (int fd = keep + 1; fd < 65536; fd++) close(fd);
    }
    return 0;
}

static void child(const vigil_sandbox_request *request, int report) {
    /* A session of its own: its pid is the group id the parent kills, and no controlling terminal. */
    if (setsid() < 0) fail(report, 2);

    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int signal_number = 1; signal_number < NSIG; signal_number++) {
        if (signal_number != SIGKILL && signal_number != SIGSTOP) signal(signal_number, SIG_DFL);
    }

    /* Duplicate above 2 first so that moving one descriptor into place cannot close another still needed. */
    int in = fcntl(request->stdin_fd, F_DUPFD_CLOEXEC, 3);
    int out = fcntl(request->stdout_fd, F_DUPFD_CLOEXEC, 3);
    int err = fcntl(request->stderr_fd, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || out < 0 || err < 0) fail(report, 2);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) fail(report, 2);
    close_others(report);

    /* The datum's folder at /pfs, seen by this process and its children only (a mount namespace of its own,
       private so that nothing propagates back to the host's). Needs root: done before the user switch. */
    if (request->pfs_folder != NULL) {
        if (unshare(CLONE_NEWNS) != 0) fail(report, 8);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail(report, 8);
        if (mount(request->pfs_folder, "/pfs", NULL, MS_BIND | MS_REC, NULL) != 0) fail(report, 8);
    }

    struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0) fail(report, 3);
    if (set_limit(RLIMIT_AS, request->memory_bytes) != 0) fail(report, 3);
    if (set_limit(RLIMIT_FSIZE, request->file_bytes) != 0) fail(report, 3);
    if (set_limit(RLIMIT_NPROC, request->processes) != 0) fail(report, 3);

    if (request->switch_user) {
        if (setgroups(0, NULL) != 0) fail(report, 4);
        if (setgid(request->gid) != 0) fail(report, 4);
        if (setuid(request->uid) != 0) fail(report, 4);
        /* Dropped for good: getting root back must fail. */
        if (request->uid != 0 && setuid(0) == 0) {
            errno = EPERM;
            fail(report, 4);
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(report, 5);
    if (chdir(request->working_directory) != 0) fail(report, 6);
    execve(request->path, request->argv, request->envp);
    fail(report, 7);
}

int vigil_sandbox_spawn(const vigil_sandbox_request *request, pid_t *pid, int *stage) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        *stage = 1;
        return errno;
    }
    pid_t child_pid = fork();
    if (child_pid < 0) {
        int error = errno;
        close(report[0]);
        close(report[1]);
        *stage = 1;
        return error;
    }
    if (child_pid == 0) {
        close(report[0]);
        child(request, report[1]);
    }
    close(report[1]);
    int failure[2];
    ssize_t count;
    do {
        count = read(report[0], failure, sizeof failure);
    } while (count < 0 && errno == EINTR);
    close(report[0]);
    if (count == (ssize_t)sizeof failure) {
        int status;
        while (waitpid(child_pid, &status, 0) < 0 && errno == EINTR) {}
        *stage = failure[0];
        return failure[1];
    }
    *pid = child_pid;
    return 0;
}

int vigil_sandbox_can_mount(void) {
    pid_t child_pid = fork();
    if (child_pid < 0) return errno;
    if (child_pid == 0) {
        if (unshare(CLONE_NEWNS) != 0) _exit(1);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(1);
        _exit(0);
    }
    int status;
    while (waitpid(child_pid, &status, 0) < 0) {
        if (errno != EINTR) return errno;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : EPERM;
}

int vigil_sandbox_wait_exited(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) != 0) {
        if (errno != EINTR) return errno;
    }
    return 0;
}

int vigil_sandbox_reap(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return status;
}

int vigil_sandbox_exited(int status) { return WIFEXITED(status); }
int vigil_sandbox_exit_code(int status) { return WEXITSTATUS(status); }
int vigil_sandbox_signalled(int status) { return WIFSIGNALED(status); }
int vigil_sandbox_signal(int status) { return WTERMSIG(status); }
