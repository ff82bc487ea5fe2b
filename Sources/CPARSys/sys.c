#define _GNU_SOURCE
#include "CPARSys.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/resource.h>
#include <malloc.h>
#include <sys/mman.h>
#include <linux/close_range.h>
#include <linux/sched.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int par_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int par_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int par_waitid_pidfd(int pidfd, int nohang, int *code, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    int options = WEXITED | (nohang ? WNOHANG : 0);
    int rc;
    do {
        rc = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, options);
    } while (rc == -1 && errno == EINTR);
    if (rc == -1) return -1;
    if (info.si_pid == 0) return 0; /* WNOHANG and still running */
    *code = info.si_code;
    *status = info.si_status;
    return info.si_pid;
}

int par_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int par_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int par_epoll_del(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

int par_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms) {
    uint32_t flags[256];
    return par_epoll_wait_flags(epfd, tokens, flags, max, timeout_ms);
}

int par_epoll_set(int epfd, int op, int fd, uint32_t interest, uint64_t token, int exclusive) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = interest | (exclusive ? EPOLLEXCLUSIVE : 0);
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev);
}

int par_epoll_wait_flags(int epfd, uint64_t *tokens, uint32_t *flags, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int n;
    do {
        n = epoll_wait(epfd, events, max, timeout_ms);
    } while (n == -1 && errno == EINTR);
    for (int i = 0; i < n; i++) {
        tokens[i] = events[i].data.u64;
        flags[i] = events[i].events;
    }
    return n;
}

static void par_set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int par_tcp_listen4(const char *address, int port, int backlog, int *bound_port) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &addr.sin_addr) != 1) { errno = EINVAL; return -1; }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, backlog) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    socklen_t length = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &length);
    *bound_port = ntohs(addr.sin_port);
    return fd;
}

int par_tcp_accept(int listen_fd, uint32_t *peer) {
    struct sockaddr_storage addr;
    socklen_t length = sizeof(addr);
    int fd = accept4(listen_fd, (struct sockaddr *)&addr, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return -1;
    par_set_nodelay(fd);
    *peer = addr.ss_family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_addr.s_addr : 0;
    return fd;
}

int par_tcp_connect_loopback(int port, int *pending) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    par_set_nodelay(fd);
    *pending = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (errno != EINPROGRESS) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        *pending = 1;
    }
    return fd;
}

int par_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    return error;
}

int par_name_thread(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

int par_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int par_eventfd_signal(int efd) {
    uint64_t one = 1;
    return (int)write(efd, &one, sizeof(one));
}

int par_eventfd_drain(int efd) {
    uint64_t value;
    return (int)read(efd, &value, sizeof(value));
}

int par_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) == -1) return -1;
    int flags = fcntl(fds[0], F_GETFL);
    if (flags == -1 || fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) == -1) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        errno = saved;
        return -1;
    }
    return 0;
}

int par_lower_thread_priority(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}

void par_tune_allocator(void) {
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
}

int par_release_free_memory(void) {
    return malloc_trim(0);
}

int par_set_not_dumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int par_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

struct spawn_failure {
    int stage;
    int error;
};

static void report_and_exit(int fd, int stage) {
    struct spawn_failure failure = { stage, errno };
    ssize_t ignored = write(fd, &failure, sizeof(failure));
    (void)ignored;
    _exit(127);
}

/* What the child does between clone and exec, gathered so both ways of cloning run it. */
struct spawn_child {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *cwd;
    int stdout_fd, stderr_fd;
    const char *const *cgroup_procs;
    int cgroup_count;
    int nice;
    int group_nice;
    long uid, gid;
    long max_fd;
    int report_fd;
};

/* The new session's scheduling group takes `nice` (before the child drops root, which
 * lowering it needs). Best effort: without autogroups the file refuses it, and the
 * agent runs as it would have. Formats by hand: async-signal-safe calls only. */
static void write_group_nice(int nice) {
    if (nice < -20 || nice > 19) return;
    char text[8];
    int length = 0;
    unsigned magnitude = nice < 0 ? (unsigned)(-nice) : (unsigned)nice;
    if (nice < 0) text[length++] = '-';
    if (magnitude >= 10) text[length++] = (char)('0' + magnitude / 10 % 10);
    text[length++] = (char)('0' + magnitude % 10);
    text[length++] = '\n';
    int fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
    if (fd == -1) return;
    ssize_t ignored = write(fd, text, (size_t)length);
    (void)ignored;
    close(fd);
}

/* Runs in the child, which shares the daemon's memory: async-signal-safe calls only,
 * and it never returns (exec, or report and _exit). */
static int spawn_child_main(void *context) {
    const struct spawn_child *c = context;
    int report = c->report_fd;
    if (setsid() == -1) report_and_exit(report, 0);
    if (c->group_nice != 0) write_group_nice(c->group_nice);
    for (int i = 0; i < c->cgroup_count; i++) {
        int fd = open(c->cgroup_procs[i], O_WRONLY | O_CLOEXEC);
        if (fd == -1) report_and_exit(report, 1);
        if (write(fd, "0", 1) != 1) report_and_exit(report, 1);
        close(fd);
    }
    if (c->nice != 0 && setpriority(PRIO_PROCESS, 0, c->nice) == -1) report_and_exit(report, 2);
    /* The agent's own identity: raw syscalls, since glibc's setuid family signals
     * every thread of the process, and this child shares the daemon's. */
    if (c->gid >= 0) {
        if (syscall(SYS_setgroups, 0, NULL) == -1) report_and_exit(report, 6);
        if (syscall(SYS_setresgid, (gid_t)c->gid, (gid_t)c->gid, (gid_t)c->gid) == -1) report_and_exit(report, 6);
    }
    if (c->uid >= 0) {
        if (syscall(SYS_setresuid, (uid_t)c->uid, (uid_t)c->uid, (uid_t)c->uid) == -1) report_and_exit(report, 6);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) report_and_exit(report, 6);
    }
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd == -1) report_and_exit(report, 3);
    if (dup2(null_fd, 0) == -1 || dup2(c->stdout_fd, 1) == -1 || dup2(c->stderr_fd, 2) == -1) report_and_exit(report, 3);
    if (null_fd > 2) close(null_fd);
    if (c->cwd != NULL && chdir(c->cwd) == -1) report_and_exit(report, 4);
    /* Everything above 2 closes at exec (the report pipe too, which tells the parent
     * the exec worked). */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        /* Kernels before 5.11: mark them one by one. */
        for (long fd = 3; fd < c->max_fd; fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &dfl, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (strchr(c->path, '/') != NULL) {
        execve(c->path, c->argv, c->envp);
    } else {
        execvpe(c->path, c->argv, c->envp);
    }
    report_and_exit(report, 5);
    return 127;
}

#if defined(__x86_64__) || defined(__aarch64__)
#define PAR_HAVE_CLONE3_VM 1
/* clone3 with the child on its own stack, running `main(context)` and exiting with its
 * result. Written out because glibc offers no clone3 wrapper (its posix_spawn uses one
 * internally), and a child that shares memory must not return through the caller's
 * frames: the registers the syscall leaves it carry it straight into `main`. */
__attribute__((noinline))
static long clone3_on_stack(struct clone_args *args, int (*main)(void *), void *context) {
#if defined(__x86_64__)
    register long fn __asm__("r12") = (long)main;
    register long arg __asm__("r13") = (long)context;
    long result;
    __asm__ volatile(
        "syscall\n\t"
        "test %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        "xor %%ebp, %%ebp\n\t"
        "mov %%r13, %%rdi\n\t"
        "call *%%r12\n\t"
        "mov %%eax, %%edi\n\t"
        "mov $60, %%eax\n\t"
        "syscall\n\t"
        "hlt\n\t"
        "1:\n\t"
        : "=a"(result)
        : "0"((long)SYS_clone3), "D"(args), "S"(sizeof(*args)), "r"(fn), "r"(arg)
        : "rcx", "r11", "memory");
    return result;
#else
    register long x0 __asm__("x0") = (long)args;
    register long x1 __asm__("x1") = (long)sizeof(*args);
    register long x8 __asm__("x8") = (long)SYS_clone3;
    register long fn __asm__("x19") = (long)main;
    register long arg __asm__("x20") = (long)context;
    __asm__ volatile(
        "svc #0\n\t"
        "cbnz x0, 1f\n\t"
        "mov x29, xzr\n\t"
        "mov x0, x20\n\t"
        "blr x19\n\t"
        "mov x8, #93\n\t"
        "svc #0\n\t"
        "1:\n\t"
        : "+r"(x0)
        : "r"(x1), "r"(x8), "r"(fn), "r"(arg)
        : "x30", "memory", "cc");
    return x0;
#endif
}
#endif

/* Hand-written instead of posix_spawn because the child must join its cgroups, take its
 * nice value and its own uid before exec, and posix_spawn has no such steps. Like
 * glibc's posix_spawn the child shares the daemon's memory until exec (vfork, or clone3
 * with CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP): a fork would copy the page tables
 * of the whole daemon and then fault on every page it writes, which was half of the
 * daemon's CPU in a restart storm. */
pid_t par_spawn(const char *path, char *const argv[], char *const envp[],
                const char *cwd, int stdout_fd, int stderr_fd,
                const char *const cgroup_procs[], int cgroup_count, int cgroup_fd, int nice,
                int group_nice, long uid, long gid, int *failed_stage) {
    int report[2];
    *failed_stage = 0;
    if (pipe2(report, O_CLOEXEC) == -1) return -1;

    long max_fd = sysconf(_SC_OPEN_MAX);
    if (max_fd < 0 || max_fd > 1048576) max_fd = 1048576;
    struct spawn_child child = {
        .path = path, .argv = argv, .envp = envp, .cwd = cwd, .stdout_fd = stdout_fd, .stderr_fd = stderr_fd,
        .cgroup_procs = cgroup_procs, .cgroup_count = cgroup_count, .nice = nice, .group_nice = group_nice, .uid = uid, .gid = gid,
        .max_fd = max_fd, .report_fd = report[1],
    };
    sigset_t all, previous;
    sigfillset(&all);
    /* No handler of the daemon may run in the child while it shares our memory. */
    pthread_sigmask(SIG_SETMASK, &all, &previous);

    pid_t pid;
    if (cgroup_fd >= 0) {
#ifdef PAR_HAVE_CLONE3_VM
        /* The child is created inside the cgroup: no migration, no moment outside it. */
        const size_t stack_size = 256 * 1024;
        void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
            int saved = errno;
            pthread_sigmask(SIG_SETMASK, &previous, NULL);
            close(report[0]);
            close(report[1]);
            errno = saved;
            return -1;
        }
        struct clone_args args;
        memset(&args, 0, sizeof(args));
        args.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)cgroup_fd;
        args.stack = (uint64_t)(uintptr_t)stack;
        args.stack_size = stack_size;
        long result = clone3_on_stack(&args, spawn_child_main, &child);
        int saved = errno;
        if (result < 0) saved = (int)-result;
        munmap(stack, stack_size);
        errno = saved;
        pid = result < 0 ? -1 : (pid_t)result;
#else
        /* Fork semantics (own copy of memory, so returning from the syscall is safe),
         * parent held until exec like vfork, child created inside the cgroup. */
        struct clone_args args;
        memset(&args, 0, sizeof(args));
        args.flags = CLONE_VFORK | CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)cgroup_fd;
        pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
        if (pid == 0) spawn_child_main(&child);
#endif
    } else {
        pid = vfork();
        if (pid == 0) spawn_child_main(&child);
    }
    int spawn_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    if (pid == -1) {
        close(report[0]);
        errno = spawn_errno;
        return -1;
    }
    struct spawn_failure failure;
    ssize_t got;
    do {
        got = read(report[0], &failure, sizeof(failure));
    } while (got == -1 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof(failure)) {
        int status;
        while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {}
        *failed_stage = failure.stage;
        errno = failure.error;
        return -1;
    }
    return pid;
}
