/*
** pty_run.c -- run a program on a pseudo-terminal and type into it, so
** that the specs can drive the lunet REPL as a person at a terminal
** would: readline, TAB completion, prompts, the terminal's width.
**
**   pty_run [-c COLUMNS] [-t SECONDS] [-p PROMPT] program [args...] <input
**
** The program's stdin, stdout and stderr are the terminal's slave side,
** COLUMNS wide (default 80).  Each line of our stdin is typed, with its
** newline, once the program's output since the previous line ends with
** PROMPT (default "> "); the first waits for the first prompt.  After the
** last line, at each further prompt, Ctrl-D ends the input (again after
** an unfinished statement, up to 3 times).  With -p '' (no prompt to
** wait for) the input is typed at once, then Ctrl-D.  Everything the
** program writes goes to our stdout as it came (\r\n line ends, echo
** and all).  Exit status: the program's, or 124 if it did not finish
** within SECONDS (default 30) of the last output, 125 on our own errors.
*/
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define PR_TIMEOUT 124
#define PR_ERROR   125

static void die (const char *what) {
  perror(what);
  exit(PR_ERROR);
}

/* the child: the slave side becomes its controlling terminal and stdio */
static void start_child (const char *slave, char **argv) {
  int fd;
  setsid();
  if ((fd = open(slave, O_RDWR)) < 0) die("pty_run: open slave");
#ifdef TIOCSCTTY
  ioctl(fd, TIOCSCTTY, 0);
#endif
  dup2(fd, 0);
  dup2(fd, 1);
  dup2(fd, 2);
  if (fd > 2) close(fd);
  execvp(argv[0], argv);
  perror(argv[0]);
  _exit(127);
}

/* the output since the last line typed, for the prompt test */
static char tail[4096];
static size_t ntail = 0;

static void keep_tail (const char *buf, size_t n) {
  if (n >= sizeof tail) {
    memcpy(tail, buf + n - sizeof tail, sizeof tail);
    ntail = sizeof tail;
    return;
  }
  if (ntail + n > sizeof tail) {
    size_t drop = ntail + n - sizeof tail;
    memmove(tail, tail + drop, ntail - drop);
    ntail -= drop;
  }
  memcpy(tail + ntail, buf, n);
  ntail += n;
}

static int at_prompt (const char *prompt) {
  size_t p = strlen(prompt);
  return ntail >= p && memcmp(tail + ntail - p, prompt, p) == 0;
}

/* copy what the program wrote to stdout; 0 at its end */
static int pump (int master) {
  char buf[4096];
  ssize_t n = read(master, buf, sizeof buf);
  if (n <= 0) return 0;  /* EIO: the slave side is closed */
  fwrite(buf, 1, (size_t)n, stdout);
  fflush(stdout);
  keep_tail(buf, (size_t)n);
  return 1;
}

static void type (int master, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(master, s, n);
    if (w < 0 && errno != EINTR) die("pty_run: write");
    if (w > 0) { s += w; n -= (size_t)w; }
  }
  ntail = 0;
}

int main (int argc, char **argv) {
  int cols = 80, timeout = 30, opt, master, status = 0, eofs = 0, open_out = 1;
  const char *prompt = "> ";
  char *line = NULL;
  size_t cap = 0;
  struct winsize ws;
  pid_t pid;
  while ((opt = getopt(argc, argv, "+c:t:p:")) != -1) {
    if (opt == 'c') cols = atoi(optarg);
    else if (opt == 't') timeout = atoi(optarg);
    else if (opt == 'p') prompt = optarg;
    else {
      fprintf(stderr, "usage: pty_run [-c COLUMNS] [-t SECONDS] [-p PROMPT] program [args...] <input\n");
      return 2;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "pty_run: no program given\n");
    return 2;
  }
  if ((master = posix_openpt(O_RDWR | O_NOCTTY)) < 0) die("pty_run: posix_openpt");
  if (grantpt(master) != 0 || unlockpt(master) != 0) die("pty_run: grantpt");
  memset(&ws, 0, sizeof ws);
  ws.ws_col = (unsigned short)cols;
  ws.ws_row = 24;
  if (ioctl(master, TIOCSWINSZ, &ws) != 0) die("pty_run: TIOCSWINSZ");
  fflush(stdout);
  if ((pid = fork()) < 0) die("pty_run: fork");
  if (pid == 0) start_child(ptsname(master), argv + optind);
  if (prompt[0] == '\0') {  /* nothing to wait for: type it all now */
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) type(master, line, (size_t)n);
    type(master, "\004", 1);
    eofs = 3;
  }
  while (open_out) {
    struct pollfd p = { master, POLLIN, 0 };
    int r = poll(&p, 1, timeout * 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {  /* silent too long: stuck */
      fprintf(stderr, "pty_run: no output for %d s; stopping the program\n", timeout);
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      return PR_TIMEOUT;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) open_out = pump(master);
    if (open_out && eofs < 3 && at_prompt(prompt)) {
      ssize_t n = eofs == 0 ? getline(&line, &cap, stdin) : 0;
      if (n > 0) type(master, line, (size_t)n);
      else { type(master, "\004", 1); eofs++; }  /* Ctrl-D */
    }
  }
  free(line);
  if (waitpid(pid, &status, 0) < 0) die("pty_run: waitpid");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
