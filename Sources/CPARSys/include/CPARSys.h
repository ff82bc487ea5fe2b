#ifndef CPARSYS_H
#define CPARSYS_H

#include <stdint.h>
#include <sys/types.h>

/// Linux syscalls and glibc extensions that the Swift Glibc module does not expose.
/// Every function returns -1 and leaves errno set on failure, like the syscall it wraps.

int par_pidfd_open(pid_t pid);
int par_pidfd_send_signal(int pidfd, int sig);

/// Reaps the child behind `pidfd`. `code` is CLD_EXITED, CLD_KILLED or CLD_DUMPED;
/// `status` the exit code or the signal number.
int par_waitid_pidfd(int pidfd, int nohang, int *code, int *status);

int par_epoll_create(void);
int par_epoll_add(int epfd, int fd, uint64_t token);
int par_epoll_del(int epfd, int fd);
/// Waits for events; fills `tokens` and `flags` (bit 0: readable/hup/error) and returns the count.
int par_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms);

/// Interest bits for par_epoll_set (the kernel's EPOLLIN, EPOLLOUT, EPOLLRDHUP).
#define PAR_WANT_READ 1u
#define PAR_WANT_WRITE 4u
#define PAR_WANT_RDHUP 0x2000u
#define PAR_EDGE_TRIGGERED 0x80000000u
/// Conditions epoll always reports: an error on the socket, or both directions closed.
#define PAR_EVENT_ERROR 8u
#define PAR_EVENT_HANGUP 16u
/// Adds (`op` 1), changes (3) or removes (2) `fd` with the given interest, level-triggered.
/// `exclusive` adds EPOLLEXCLUSIVE (a listener shared by several loops wakes one of them).
int par_epoll_set(int epfd, int op, int fd, uint32_t interest, uint64_t token, int exclusive);
/// Waits for events; fills `tokens` and `flags` (the kernel's event bits) and returns the count.
int par_epoll_wait_flags(int epfd, uint64_t *tokens, uint32_t *flags, int max, int timeout_ms);

/// A non-blocking IPv4 TCP listener on `address:port` (SO_REUSEADDR); `*bound_port` gets the
/// port the kernel chose when `port` is 0. Returns the fd.
int par_tcp_listen4(const char *address, int port, int backlog, int *bound_port);
/// Accepts one connection as a non-blocking, close-on-exec fd with TCP_NODELAY; `*peer`
/// gets the peer's IPv4 address in network order (0 when it is not IPv4).
int par_tcp_accept(int listen_fd, uint32_t *peer);
/// Starts a non-blocking connect to 127.0.0.1:`port` with TCP_NODELAY. `*pending` is 1
/// while the connect is still in progress (wait for writability, then par_socket_error).
int par_tcp_connect_loopback(int port, int *pending);
/// The socket's pending error (SO_ERROR), 0 when there is none.
int par_socket_error(int fd);

/// Names the calling thread (at most 15 bytes show), for `top -H` and profilers.
int par_name_thread(const char *name);

int par_eventfd(void);
int par_eventfd_signal(int efd);
int par_eventfd_drain(int efd);

/// A pipe whose both ends are close-on-exec; the read end is also non-blocking.
int par_pipe(int fds[2]);

int par_set_child_subreaper(void);

/// Starts `path` (searched in PATH when it has no slash) in a new session with stdin on
/// /dev/null, stdout and stderr on the given fds, every other fd closed, all signals
/// back to their default disposition and an empty signal mask, in directory `cwd`.
/// Before it executes the program, the child writes itself into each of the
/// `cgroup_count` cgroup.procs files and applies `nice`, so nothing it runs ever
/// lives outside its limits. A `group_nice` other than 0 is given to the scheduling group
/// (autogroup) its new session makes, where the kernel has them; best effort.
/// With `cgroup_fd` (a cgroup v2 folder) >= 0 the child is born inside that cgroup
/// (clone3 with CLONE_INTO_CGROUP): no migration, no moment outside it.
/// Returns the pid, or -1 with errno set and `*failed_stage` naming the step that failed
/// (0 spawn, 1 cgroup, 2 nice, 3 stdio, 4 chdir, 5 exec).
pid_t par_spawn(const char *path, char *const argv[], char *const envp[],
                const char *cwd, int stdout_fd, int stderr_fd,
                const char *const cgroup_procs[], int cgroup_count, int cgroup_fd, int nice,
                int group_nice, long uid, long gid, int *failed_stage);

/* Raises the calling thread's nice value (lower priority); other threads keep theirs. */
int par_lower_thread_priority(int nice);

/* Keeps the allocator from holding on to memory after a burst: large buffers (from
 * 128 KiB) always come from mmap and go back on free (glibc otherwise raises this
 * threshold as it sees such buffers freed, after which they stay in the heap), and free
 * heap memory above 1 MiB is returned. */
void par_tune_allocator(void);

/* Gives the allocator's free memory back to the kernel (malloc_trim). */
int par_release_free_memory(void);

/* Makes the calling process non-dumpable: its /proc files (environ, mem) become
 * root's only, and no process of the same user can ptrace it. */
int par_set_not_dumpable(void);

#endif
