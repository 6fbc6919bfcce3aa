/*
** main.c -- the `lunet` program: runs a script, or the REPL.
**
** It behaves like the stock lua5.4 interpreter (same options, same `arg`
** table, same REPL rules) with three differences that make it lunet's:
** the core is linked in and preloaded as "lunet.core", so no core.so is
** needed; the Lua library is found beside the executable when it runs
** from the source tree; and `lunet` is a global before anything runs.
** With no arguments it always starts the REPL, even on a pipe (without
** prompts), so `printf '1+1\n' | lunet` works; `lunet -` runs stdin as
** one script.
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
#include <lualib.h>

#ifndef LT_VERSION
#define LT_VERSION "unknown"
#endif

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define LT_PROGNAME "lunet"
#define LT_PROMPT   "> "
#define LT_PROMPT2  ">> "
#define LT_HISTFILE ".lunet_history"
#define LT_HISTMAX  1000

/* loadline's result when Ctrl-C abandoned the input: nothing to run */
#define LT_SKIP     (-2)

/* defined in lua_tensor.c; the same function core.so exports */
LUAMOD_API int luaopen_lunet_core (lua_State *L);

static const char *progname = LT_PROGNAME;

/* stdin is a terminal: use readline, show prompts and the banner */
static int interactive = 0;


/*
** {==================================================================
** Messages
** ===================================================================
*/

static void print_usage (FILE *f) {
  fprintf(f,
  "usage: %s [options] [script [args]]\n"
  "Available options are:\n"
  "  -e stat        execute string 'stat'\n"
  "  -i             enter interactive mode after executing 'script'\n"
  "  -l mod         require library 'mod' into global 'mod'\n"
  "  -v, --version  show version information\n"
  "  -h, --help     show this help\n"
  "  --             stop handling options\n"
  "  -              execute stdin and stop handling options\n"
  "With no arguments, start the interactive REPL.\n"
  "The global 'lunet' is loaded before anything runs.\n"
  "Environment: LUNET_HISTORY (REPL history file, default ~/%s;\n"
  "set it empty to keep no history), LUA_PATH, LUA_CPATH.\n",
  LT_PROGNAME, LT_HISTFILE);
  fflush(f);
}

/* flush stdout first so a pipe carrying both streams keeps their order */
static void l_message (const char *pname, const char *msg) {
  fflush(stdout);
  if (pname) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

/* print the error message on the stack top, if any */
static int report (lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "(error object is not a string)";
    l_message(progname, msg);
    lua_pop(L, 1);
    /* an error often leaves big tensors unreachable: free them now */
    lua_gc(L, LUA_GCCOLLECT);
  }
  return status;
}

/* message handler: turn any error object into a string with traceback */
static int msghandler (lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;  /* its own string form is the message, no traceback */
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* }================================================================== */


/*
** {==================================================================
** Interrupts
** Ctrl-C while Lua runs must stop the computation, not the process. A
** signal handler may not touch the Lua state beyond lua_sethook, so it
** installs a hook that raises the error at the next Lua instruction.
** ===================================================================
*/

static lua_State *globalL = NULL;

static void setsignal (int sig, void (*handler)(int)) {
  struct sigaction sa;
  sa.sa_handler = handler;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

static void lstop (lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/* the hook fires only in Lua code: a second Ctrl-C during a long C call
** gets the default action and kills the process, as a last resort */
static void laction (int sig) {
  int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
  setsignal(sig, SIG_DFL);
  lua_sethook(globalL, lstop, flag, 1);
}

/* call the function below narg arguments with the message handler and
** Ctrl-C armed */
static int docall (lua_State *L, int narg, int nres) {
  int status;
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  globalL = L;
  setsignal(SIGINT, laction);
  status = lua_pcall(L, narg, nres, base);
  setsignal(SIGINT, SIG_DFL);
  /* a Ctrl-C that came as the call returned must not hit the next one */
  if (lua_gethook(L) == lstop) lua_sethook(L, NULL, 0, 0);
  lua_remove(L, base);
  return status;
}

/* }================================================================== */


/*
** {==================================================================
** Setting up the state
** ===================================================================
*/

/* the core is linked in: require "lunet.core" must not look for core.so */
static void preload_core (lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_lunet_core);
  lua_setfield(L, -2, "lunet.core");
  lua_pop(L, 1);
}

/*
** Running from the source tree (build/bin/lunet), the library is in
** ../../lua beside the executable: put it first so the tree's copy wins
** over an installed one.  Installed, the files are in Lua's standard
** path and the test fails harmlessly.
*/
static void set_tree_path (lua_State *L) {
  char exe[PATH_MAX], root[PATH_MAX], probe[PATH_MAX + 32];
  char *slash;
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 8);
  if (n <= 0) return;  /* not Linux, or no /proc: nothing to find */
  exe[n] = '\0';
  if ((slash = strrchr(exe, '/')) == NULL) return;
  strcpy(slash, "/../..");
  if (realpath(exe, root) == NULL) return;
  snprintf(probe, sizeof probe, "%s/lua/lunet/init.lua", root);
  if (access(probe, R_OK) != 0) return;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");  /* already holds LUA_PATH, if set */
  lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s",
                  root, root, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
}

/*
** arg[0] is the script, arg[1..] its arguments, and the interpreter and
** its options go to negative indices, exactly as lua.c does, so scripts
** written for lua5.4 read their arguments unchanged.
*/
static void create_argtable (lua_State *L, char **argv, int argc,
                             int script) {
  int i;
  lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0,
                  script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dostring (lua_State *L, const char *s, const char *name) {
  int status = luaL_loadbuffer(L, s, strlen(s), name);
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

/* global[name] = require(name) */
static int dolibrary (lua_State *L, const char *name) {
  int status;
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  status = docall(L, 1, 1);
  if (status == LUA_OK)
    lua_setglobal(L, name);
  return report(L, status);
}

/* }================================================================== */


/*
** {==================================================================
** Version
** ===================================================================
*/

static void print_version (void) {
  const char *v = LT_VERSION;
  printf("%s %s  (%s)\n", LT_PROGNAME, v[0] ? v : "unknown", LUA_RELEASE);
  fflush(stdout);
}

/* one line per field of a table, keys sorted so the output is stable */
static void print_info_table (lua_State *L, int t) {
  int i, n = 0;
  lua_newtable(L);  /* keys */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, ++n);
    }
  }
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, -3);
  lua_call(L, 1, 0);
  lua_pop(L, 1);  /* table library */
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    luaL_tolstring(L, -1, NULL);
    printf("  %s: %s\n", lua_tostring(L, -3), lua_tostring(L, -1));
    lua_pop(L, 3);  /* key, value, its string */
  }
  lua_pop(L, 1);  /* keys */
}

/* lunet.blas_info(), when the library offers it: which kernels run */
static void print_blas_info (lua_State *L) {
  int top = lua_gettop(L);
  if (lua_getglobal(L, "lunet") == LUA_TTABLE &&
      lua_getfield(L, -1, "blas_info") == LUA_TFUNCTION) {
    if (docall(L, 0, 1) != LUA_OK)
      report(L, LUA_ERRRUN);  /* a broken probe is not fatal to -v */
    else if (lua_type(L, -1) == LUA_TTABLE) {
      printf("BLAS:\n");
      print_info_table(L, lua_gettop(L));
    }
    else if (!lua_isnil(L, -1))
      printf("BLAS: %s\n", luaL_tolstring(L, -1, NULL));
  }
  lua_settop(L, top);
  fflush(stdout);
}

/* }================================================================== */


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
  setsignal(SIGINT, lprompt);
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
  setsignal(SIGINT, SIG_DFL);
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
** Tab completion of globals, fields and methods: "lunet.ze" completes to
** "lunet.zeros".  It runs inside readline, where a Lua error must not
** be raised, so it uses only raw accesses: no metamethod ever runs.
** ===================================================================
*/

static lua_State *replL = NULL;
static char **comp_list = NULL;   /* candidates for the word being completed */
static size_t comp_n = 0, comp_next = 0;

static void comp_add (const char *prefix, size_t plen, const char *key) {
  size_t klen = strlen(key);
  char *s, **l = realloc(comp_list, (comp_n + 1) * sizeof *l);
  if (l == NULL) return;
  comp_list = l;
  if ((s = malloc(plen + klen + 1)) == NULL) return;
  memcpy(s, prefix, plen);
  memcpy(s + plen, key, klen + 1);
  comp_list[comp_n++] = s;
}

/*
** A C __index function that looks names up in a table keeps that table
** as its first upvalue (the tensor metatable does): complete from it.
** Not for Lua closures, whose first upvalue is often _ENV.
*/
static void comp_upvalue_table (lua_State *L) {
  if (lua_iscfunction(L, -1) && lua_getupvalue(L, -1, 1) != NULL) {
    if (lua_istable(L, -1))
      lua_remove(L, -2);  /* the function */
    else
      lua_pop(L, 1);
  }
}

/* a value's fields: its own (tables) and then its __index tables' */
static void comp_fields (lua_State *L, const char *prefix, size_t plen,
                         const char *name) {
  int depth;
  size_t nlen = strlen(name);
  for (depth = 0; depth < 8 && !lua_isnil(L, -1); depth++) {
    if (lua_istable(L, -1)) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING &&
            strncmp(lua_tostring(L, -1), name, nlen) == 0)
          comp_add(prefix, plen, lua_tostring(L, -1));
      }
    }
    if (!lua_getmetatable(L, -1)) break;
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    lua_remove(L, -2);  /* metatable */
    lua_remove(L, -2);  /* previous value */
    comp_upvalue_table(L);
  }
}

/* push the value named by path[0..len) ("a.b.c"), or nil */
static void comp_resolve (lua_State *L, const char *path, size_t len) {
  const char *p = path, *end = path + len;
  lua_pushglobaltable(L);
  while (p < end && !lua_isnil(L, -1)) {
    const char *dot = memchr(p, '.', (size_t)(end - p));
    if (dot == NULL) dot = end;
    if (lua_istable(L, -1)) {
      lua_pushlstring(L, p, (size_t)(dot - p));
      lua_rawget(L, -2);
    }
    else lua_pushnil(L);
    lua_remove(L, -2);
    p = dot + 1;
  }
}

static char *comp_generator (const char *text, int state) {
  (void)text;
  if (state == 0) comp_next = 0;
  /* readline frees what we return */
  return comp_next < comp_n ? strdup(comp_list[comp_next++]) : NULL;
}

static char **comp_attempt (const char *text, int start, int end) {
  lua_State *L = replL;
  const char *sep = text + strlen(text);
  char **matches;
  int top = lua_gettop(L);
  (void)start; (void)end;
  rl_attempted_completion_over = 1;  /* never fall back to file names */
  rl_completion_append_character = '\0';
  while (sep > text && sep[-1] != '.' && sep[-1] != ':') sep--;
  comp_n = 0;
  if (sep == text)
    lua_pushglobaltable(L);
  else
    comp_resolve(L, text, (size_t)(sep - text - 1));
  comp_fields(L, text, (size_t)(sep - text), sep);
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
  hist_open();
}

/* }================================================================== */


/*
** {==================================================================
** Read-Eval-Print Loop
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
  if (interactive) hist_add(line);
  lua_pushstring(L, line);
  free(line);
  return 1;
}

/* an expression line: "1+1" runs as "return 1+1;" and prints its value */
static int addreturn (lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *retline = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
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
    int status = luaL_loadbuffer(L, buf, len, "=stdin");
    int more;
    if (!incomplete(L, status)) return status;
    if ((more = pushline(L, 0)) == 0) {  /* input ended mid-statement */
      luaL_loadbuffer(L, buf, len, "=stdin");  /* the <eof> error again */
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
static int loadline (lua_State *L) {
  int status;
  lua_settop(L, 0);
  if ((status = pushline(L, 1)) <= 0)
    return status == 0 ? -1 : LT_SKIP;
  if ((status = addreturn(L)) != LUA_OK)
    status = multiline(L);
  if (status == LT_SKIP)
    lua_settop(L, 0);
  else
    lua_remove(L, 1);  /* the source */
  return status;
}

/* print what the line returned, through the global print */
static void l_print (lua_State *L) {
  int n = lua_gettop(L);
  if (n > 0) {
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
      l_message(progname, lua_pushfstring(L, "error calling 'print' (%s)",
                                          lua_tostring(L, -1)));
  }
}

static void doREPL (lua_State *L) {
  int status;
  const char *oldprogname = progname;
  progname = NULL;  /* the user sees where errors come from */
  if (interactive) rl_setup(L);
  while ((status = loadline(L)) != -1) {
    if (status == LT_SKIP) continue;
    if (status == LUA_OK)
      status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) l_print(L);
    else report(L, status);
  }
  lua_settop(L, 0);
  if (interactive) fputc('\n', stdout);  /* leave the shell prompt clean */
  fflush(stdout);
  progname = oldprogname;
}

/* }================================================================== */


/*
** {==================================================================
** Command line
** ===================================================================
*/

typedef struct Args {
  int script;    /* argv index of the script, 0 when none */
  int bad;       /* argv index of a bad option, 0 when none */
  int execute;   /* some -e */
  int repl;      /* -i */
  int version;   /* -v, --version */
  int help;      /* -h, --help */
} Args;

/* options that take a value: "-e stat" or "-estat", like lua */
static int needs_value (const char *opt) {
  return (opt[1] == 'e' || opt[1] == 'l');
}

static void collectargs (char **argv, int argc, Args *a) {
  int i;
  memset(a, 0, sizeof *a);
  for (i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (o[0] != '-' || strcmp(o, "-") == 0) {  /* script (or stdin) */
      a->script = i;
      return;
    }
    if (strcmp(o, "--") == 0) {
      if (i + 1 < argc) a->script = i + 1;
      return;
    }
    if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) a->help = 1;
    else if (strcmp(o, "--version") == 0 || strcmp(o, "-v") == 0)
      a->version = 1;
    else if (strcmp(o, "-i") == 0) a->repl = 1;
    else if (o[2] == '\0' && needs_value(o)) {
      if (i + 1 >= argc || argv[i + 1][0] == '-') {
        a->bad = i;
        return;
      }
      a->execute |= (o[1] == 'e');
      i++;
    }
    else if (needs_value(o)) a->execute |= (o[1] == 'e');
    else {
      a->bad = i;
      return;
    }
  }
}

static void bad_option (const char *o) {
  char msg[256];
  if (needs_value(o) && o[2] == '\0')  /* else it would have its value */
    snprintf(msg, sizeof msg, "'%s' needs argument", o);
  else
    snprintf(msg, sizeof msg, "unrecognized option '%.200s'", o);
  l_message(progname, msg);
  print_usage(stderr);
}

/* run the -e and -l options in order; 0 when one failed */
static int runargs (lua_State *L, char **argv, int optlim) {
  int i;
  for (i = 1; i < optlim; i++) {
    const char *o = argv[i];
    const char *v;
    int status;
    if (o[0] != '-' || !needs_value(o)) continue;
    v = (o[2] == '\0') ? argv[++i] : o + 2;
    if (o[1] == 'e')
      status = dostring(L, v, "=(command line)");
    else
      status = dolibrary(L, v);
    if (status != LUA_OK) return 0;
  }
  return 1;
}

/* run the script at argv[0] with the rest as its `...`; "-" is stdin
** unless "--" came before it */
static int handle_script (lua_State *L, char **argv, int argc) {
  const char *fname = argv[0];
  int i, status;
  if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
    fname = NULL;
  status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    luaL_checkstack(L, argc, "too many arguments to script");
    for (i = 1; i < argc; i++)
      lua_pushstring(L, argv[i]);
    status = docall(L, argc - 1, 0);
  }
  return report(L, status);
}

/*
** Everything runs inside this protected function, so a memory error
** anywhere is reported, and main always reaches lua_close.  It returns
** true on success.
*/
static int pmain (lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  Args a;
  int optlim, repl;
  collectargs(argv, argc, &a);
  if (a.bad) {
    bad_option(argv[a.bad]);
    return 0;
  }
  if (a.help) {
    print_usage(stdout);
    lua_pushboolean(L, 1);
    return 1;
  }
  optlim = a.script ? a.script : argc;
  interactive = isatty(STDIN_FILENO);
  /* with nothing else to do, lunet is a REPL (on a pipe too) */
  repl = a.repl || (a.script == 0 && !a.execute && !a.version);
  if (a.version || (repl && interactive))
    print_version();
  luaL_openlibs(L);
  preload_core(L);
  set_tree_path(L);
  create_argtable(L, argv, argc, a.script);
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);  /* as lua.c: most objects die young */
  if (dolibrary(L, "lunet") != LUA_OK) return 0;
  if (a.version) print_blas_info(L);
  if (!runargs(L, argv, optlim)) return 0;
  if (a.script && handle_script(L, argv + a.script, argc - a.script) != LUA_OK)
    return 0;
  if (repl)
    doREPL(L);
  lua_pushboolean(L, 1);
  return 1;
}

int main (int argc, char **argv) {
  int status, result;
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    l_message(argv[0], "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP);  /* no collection while building the state */
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  result = lua_toboolean(L, -1);
  report(L, status);
  /* closing frees every tensor, so a leak checker sees only real leaks */
  lua_close(L);
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* }================================================================== */
