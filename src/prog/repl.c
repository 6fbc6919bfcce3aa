/*
** repl.c -- reading the REPL's input for the `lunet` program: lines
** from readline (with history and tab completion) or from a pipe, and
** compiled by lua's rules: an expression line is returned, and an
** unfinished statement reads more lines.  main.c runs what this compiles
** and prints the results.  What a line means beyond Lua (?name, :time,
** =expr) and how results look is lunet/repl.lua's business: this file
** asks it through repl_field().
*/

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/readline.h>
#include <readline/history.h>

#include <lua.h>
#include <lauxlib.h>

#include "repl.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define LT_PROMPT   "> "
#define LT_PROMPT2  ">> "
#define LT_HISTMAX  1000

/* stdin is a terminal: use readline, show prompts, keep history */
static int interactive = 0;

/* the Lua module lunet.repl, in the registry (LUA_NOREF: not loaded) */
static int repl_ref = LUA_NOREF;

/* push lunet.repl's field `name` and return its type (LUA_TNIL, with a
** nil pushed, when the module did not load) */
int lt_repl_field (lua_State *L, const char *name) {
  if (repl_ref == LUA_NOREF) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  return lua_type(L, -1);
}


/*
** {==================================================================
** Reading lines
** On a terminal, GNU readline through its callback interface: waiting in
** select() ourselves lets Ctrl-C abandon the line being typed (and go
** back to the first prompt) instead of killing the program, which is
** what the blocking readline() would leave us to.  On a pipe, getline().
** ===================================================================
*/

static volatile sig_atomic_t gotint = 0;  /* Ctrl-C at the prompt */
static char *rl_result = NULL;            /* line from the callback */
static int rl_finished = 0;
static char histpath[PATH_MAX];           /* "" = no history file */

static void lprompt (int sig) {
  (void)sig;
  gotint = 1;
}

static void rl_gotline (char *line) {
  rl_result = line;
  rl_finished = 1;
  /* removing the handler now stops readline from prompting again */
  rl_callback_handler_remove();
}

/* readline is done with the line: put the terminal back, start afresh */
static void rl_abandon (void) {
  rl_free_line_state();
  rl_callback_sigcleanup();
  rl_echo_signal_char(SIGINT);
  rl_cleanup_after_signal();
  rl_callback_handler_remove();
  fputc('\n', stdout);
  fflush(stdout);
}

/* 1: a line in *line (free it), 0: end of input, -1: Ctrl-C */
static int rl_readln (const char *prompt, char **line) {
  int status = 0;
  int fd = fileno(rl_instream ? rl_instream : stdin);
  rl_finished = 0;
  rl_result = NULL;
  gotint = 0;
  lt_setsignal(SIGINT, lprompt);
  rl_callback_handler_install(prompt, rl_gotline);
  while (!rl_finished) {
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(fd, &fds);
    if (select(fd + 1, &fds, NULL, NULL, NULL) >= 0)
      rl_callback_read_char();
    else if (errno != EINTR) {  /* input is gone: treat it as its end */
      rl_callback_handler_remove();
      break;
    }
    else if (gotint) {
      rl_abandon();
      status = -1;
      break;
    }
  }
  lt_setsignal(SIGINT, SIG_DFL);
  if (status == 0 && rl_result != NULL) {
    *line = rl_result;
    status = 1;
  }
  return status;
}

static int plain_readln (char **line) {
  char *buf = NULL;
  size_t cap = 0;
  ssize_t n = getline(&buf, &cap, stdin);
  if (n < 0) {
    free(buf);
    return 0;
  }
  if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = '\0';
  *line = buf;
  return 1;
}

static void hist_save (void) {
  if (histpath[0] != '\0')
    write_history(histpath);  /* failing to save history is not an error */
}

/* $LUNET_HISTORY, or ~/.lunet_history; set but empty means none */
static void hist_open (void) {
  const char *f = getenv("LUNET_HISTORY");
  const char *home = getenv("HOME");
  using_history();
  stifle_history(LT_HISTMAX);
  if (f != NULL)
    snprintf(histpath, sizeof histpath, "%s", f);
  else if (home != NULL && home[0] != '\0')
    snprintf(histpath, sizeof histpath, "%s/%s", home, LT_HISTFILE);
  if (histpath[0] == '\0') return;
  read_history(histpath);  /* no file yet is fine */
  atexit(hist_save);  /* also runs after os.exit() */
}

/* non-empty lines go to the history, but not the same line twice in a row */
static void hist_add (const char *line) {
  HIST_ENTRY *last;
  if (line[0] == '\0') return;
  last = history_get(history_base + history_length - 1);
  if (last == NULL || strcmp(last->line, line) != 0)
    add_history(line);
}

/* }================================================================== */


/*
** {==================================================================
** Tab completion.  Inside a string, file names (readline's own
** completer); elsewhere lunet.repl.complete(word), which knows globals,
** fields, methods and lunet's lazily loaded parts.  It runs inside
** readline, so it is called protected and any error means no candidates.
** ===================================================================
*/

static lua_State *replL = NULL;
static char **comp_list = NULL;   /* candidates for the word being completed */
static size_t comp_n = 0, comp_next = 0;

/* the strings of the list on the stack top, copied to comp_list */
static void comp_take (lua_State *L) {
  lua_Integer i, n = luaL_len(L, -1);
  char **l = n > 0 ? malloc((size_t)n * sizeof *l) : NULL;
  if (l == NULL) return;
  comp_list = l;
  for (i = 1; i <= n; i++) {
    const char *s;
    lua_rawgeti(L, -1, i);
    s = lua_tostring(L, -1);
    if (s != NULL && (comp_list[comp_n] = strdup(s)) != NULL) comp_n++;
    lua_pop(L, 1);
  }
}

static char *comp_generator (const char *text, int state) {
  (void)text;
  if (state == 0) comp_next = 0;
  /* readline frees what we return */
  return comp_next < comp_n ? strdup(comp_list[comp_next++]) : NULL;
}

static int comp_call (lua_State *L) {
  lt_repl_field(L, "complete");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  if (lua_istable(L, -1)) comp_take(L);
  return 0;
}

static char **comp_attempt (const char *text, int start, int end) {
  lua_State *L = replL;
  char **matches;
  int top = lua_gettop(L);
  (void)start; (void)end;
  if (rl_completion_quote_character != 0) {  /* in a string: file names */
    rl_completion_append_character = '\0';
    return NULL;  /* readline falls back to rl_filename_completion_function */
  }
  rl_attempted_completion_over = 1;  /* no file names outside strings */
  rl_completion_append_character = '\0';
  comp_n = 0;
  lua_pushcfunction(L, comp_call);
  lua_pushstring(L, text);
  lua_pcall(L, 1, 0, 0);  /* an error: no candidates */
  lua_settop(L, top);
  matches = rl_completion_matches(text, comp_generator);
  while (comp_n > 0) free(comp_list[--comp_n]);
  free(comp_list);
  comp_list = NULL;
  return matches;
}

static void rl_setup (lua_State *L) {
  replL = L;
  rl_readline_name = LT_PROGNAME;  /* for $if lunet in ~/.inputrc */
  rl_catch_signals = 0;  /* Ctrl-C is ours: see rl_readln */
  rl_attempted_completion_function = comp_attempt;
  /* Lua's operators end a word, '.' and ':' do not ("lunet.optim.A",
  ** "m:par"); a quote starts a string, where file names complete */
  rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{}()[],+-*/%^#~";
  rl_completer_quote_characters = "\"'";
  hist_open();
}

/* lunet.repl, or a note on stderr and the plain REPL without it */
static void load_module (lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "lunet.repl");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1))
    repl_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else {
    fprintf(stderr, LT_PROGNAME ": REPL without lunet.repl (%s)\n",
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "not a table");
    lua_pop(L, 1);
  }
}

void lt_repl_setup (lua_State *L, int tty) {
  interactive = tty;
  load_module(L);
  if (interactive) rl_setup(L);
}

/* }================================================================== */


/*
** {==================================================================
** Loading a statement
** ===================================================================
*/

/* _PROMPT/_PROMPT2 may change the prompts, as in lua */
static const char *get_prompt (lua_State *L, int firstline) {
  if (lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushstring(L, firstline ? LT_PROMPT : LT_PROMPT2);
  }
  else {
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
  }
  return lua_tostring(L, -1);
}

/* lines read so far, and the number of the line a statement starts at */
static long lines_read = 0, stmt_line = 1;

/* read a line and push it: 1 ok, 0 end of input, -1 Ctrl-C */
static int pushline (lua_State *L, int firstline) {
  char *line = NULL;
  int status;
  fflush(stdout);  /* results of the last line before the next prompt */
  if (interactive) {
    status = rl_readln(get_prompt(L, firstline), &line);
    lua_pop(L, 1);  /* prompt */
  }
  else
    status = plain_readln(&line);
  if (status != 1) return status;
  lines_read++;
  if (firstline) stmt_line = lines_read;
  if (interactive) hist_add(line);
  lua_pushstring(L, line);
  free(line);
  return 1;
}

/*
** Compiling a statement as chunk "=stdin".  From a pipe, the chunk is
** read as if it stood at its line of the input (that many newlines come
** first, from a static buffer), so an error names the input's line
** (stdin:12:) as it would in a script; on a terminal every statement
** counts from 1, as in lua.
*/
typedef struct chunk_reader {
  long skip;            /* newlines still to give */
  const char *s;        /* then the statement */
  size_t len;
} chunk_reader;

static const char *read_chunk (lua_State *L, void *ud, size_t *size) {
  static char newlines[4096];
  chunk_reader *r = ud;
  (void)L;
  if (newlines[0] != '\n') memset(newlines, '\n', sizeof newlines);
  if (r->skip > 0) {
    size_t n = r->skip < (long)sizeof newlines ? (size_t)r->skip : sizeof newlines;
    r->skip -= (long)n;
    *size = n;
    return newlines;
  }
  *size = r->len;
  r->len = 0;
  return *size ? r->s : NULL;
}

static int load_at (lua_State *L, const char *s, size_t len, long skip) {
  chunk_reader r;
  r.skip = skip;
  r.s = s;
  r.len = len;
  return lua_load(L, read_chunk, &r, "=stdin", NULL);
}

/* A statement is compiled as it is while its form is being found (an
** expression? complete yet?), which needs no line numbers; the form that
** is kept is compiled again at its line.  So piped input costs time
** linear in its length, not quadratic. */
static int load_stmt (lua_State *L, const char *s, size_t len) {
  return load_at(L, s, len, 0);
}

/* the newlines before a kept statement: its line, from a pipe */
static long stmt_skip (void) {
  return interactive ? 0 : stmt_line - 1;
}

/* the kept form at its line, replacing the trial's result on the top */
static int reload_at_line (lua_State *L, const char *s, size_t len, int status) {
  if (stmt_skip() == 0) return status;
  lua_pop(L, 1);
  return load_at(L, s, len, stmt_skip());
}

/* lunet.repl.rewrite(line): what "?name", ":cmd" and "=expr" mean; the
** line on the stack top is replaced by what it returns */
static void rewrite (lua_State *L) {
  if (lt_repl_field(L, "rewrite") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, -2);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
    lua_replace(L, -2);
  else
    lua_pop(L, 1);  /* no rewriting: the line as it is */
}

/*
** An expression line: "1+1" runs and prints its value.  Not compiled as
** "return 1+1;", as lua.c does: there a call would be a tail call, its
** chunk's frame gone from the stack, and an error raised in a library
** at "the caller's line" (util.user_level) would find no line of stdin
** to name.  The values pass through an identity function instead, so the
** expression is evaluated inside the chunk's frame.  (The newline ends a
** trailing comment before the closing parenthesis.)
*/
static int addreturn (lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *retline = lua_pushfstring(L,
      "return (function (...) return ... end)(%s\n);", line);
  int status = load_stmt(L, retline, strlen(retline));
  if (status == LUA_OK)
    status = reload_at_line(L, retline, strlen(retline), status);
  if (status == LUA_OK)
    lua_remove(L, -2);  /* modified line */
  else
    lua_pop(L, 2);  /* error message and modified line */
  return status;
}

/* a syntax error at <eof> means the chunk is unfinished: read more */
static int incomplete (lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    const size_t lmark = sizeof("<eof>") - 1;
    if (lmsg >= lmark && strcmp(msg + lmsg - lmark, "<eof>") == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

/* the buffer at index 1 is a statement: compile it, reading more lines
** while it is unfinished */
static int multiline (lua_State *L) {
  for (;;) {
    size_t len;
    const char *buf = lua_tolstring(L, 1, &len);
    int status = load_stmt(L, buf, len);
    int more;
    if (!incomplete(L, status)) return reload_at_line(L, buf, len, status);
    if ((more = pushline(L, 0)) == 0) {  /* input ended mid-statement */
      load_at(L, buf, len, stmt_skip());  /* the <eof> error again, at its line */
      return LUA_ERRSYNTAX;
    }
    if (more < 0) return LT_SKIP;
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);  /* buffer .. "\n" .. line */
  }
}

/* compile the next input: -1 end, LT_SKIP, or a status with the function
** (or error message) as the only value on the stack */
int lt_repl_loadline (lua_State *L) {
  int status;
  lua_settop(L, 0);
  if ((status = pushline(L, 1)) <= 0)
    return status == 0 ? -1 : LT_SKIP;
  rewrite(L);
  if ((status = addreturn(L)) != LUA_OK)
    status = multiline(L);
  if (status == LT_SKIP)
    lua_settop(L, 0);
  else
    lua_remove(L, 1);  /* the source */
  return status;
}

/* }================================================================== */
