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
** one script.  The REPL's input side (readline, history, completion,
** unfinished statements) is in repl.c, and what its commands mean and
** how results look in lua/lunet/repl.lua.  As lua does, it runs
** $LUA_INIT_5_4 (or $LUA_INIT) first, unless -E; the REPL also runs the
** startup file ($LUNET_RC or ~/.lunetrc) unless --norc.  Exit status: 0,
** 1 when something failed (a script, -e, or any line of a REPL whose
** input is not a terminal), 2 for a bad command line.
*/

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "lunetlib.h"
#include "repl.h"

#ifndef LT_VERSION
#define LT_VERSION "unknown"
#endif

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

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
  "  -E             ignore environment variables (LUA_INIT, LUA_PATH, ...)\n"
  "  --norc         do not run the REPL's startup file\n"
  "  -v, --version  show version information\n"
  "  -h, --help     show this help\n"
  "  --             stop handling options\n"
  "  -              execute stdin and stop handling options\n"
  "With no arguments, start the interactive REPL (?name: documentation,\n"
  "TAB: completion, :time on: timing, :help: its commands).\n"
  "The global 'lunet' is loaded before anything runs.\n"
  "Environment: LUA_INIT_5_4 or LUA_INIT (Lua code, or @file, run first),\n"
  "LUNET_RC (the REPL's startup file, default ~/.lunetrc; empty: none),\n"
  "LUNET_HISTORY (REPL history file, default ~/%s;\n"
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

void lt_setsignal (int sig, void (*handler)(int)) {
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
  lt_setsignal(sig, SIG_DFL);
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
  lt_setsignal(SIGINT, laction);
  status = lua_pcall(L, narg, nres, base);
  lt_setsignal(SIGINT, SIG_DFL);
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
** Put the Lua library beside the executable first in package.path, if it
** is there: in the source tree (build/bin/lunet: ../../lua), so the tree's
** copy wins over an installed one; or under an install prefix
** (PREFIX/bin/lunet: ../share/lua/5.4), so any PREFIX works, not only
** those in Lua's standard path.
*/
static int add_lua_dir (lua_State *L, const char *exe, const char *rel) {
  char dir[PATH_MAX + 64], root[PATH_MAX], probe[PATH_MAX + 32];
  snprintf(dir, sizeof dir, "%s/%s", exe, rel);
  if (realpath(dir, root) == NULL) return 0;
  snprintf(probe, sizeof probe, "%s/lunet/init.lua", root);
  if (access(probe, R_OK) != 0) return 0;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");  /* already holds LUA_PATH, if set */
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", root, root, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
  return 1;
}

static void set_tree_path (lua_State *L) {
  char exe[PATH_MAX];
  char *slash;
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 8);
  if (n <= 0) return;  /* not Linux, or no /proc: nothing to find */
  exe[n] = '\0';
  if ((slash = strrchr(exe, '/')) == NULL) return;
  *slash = '\0';      /* the executable's directory */
  if (!add_lua_dir(L, exe, "../../lua")) add_lua_dir(L, exe, "../share/lua/" LUA_VERSION_MAJOR "." LUA_VERSION_MINOR);
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

/* $LUA_INIT_5_4, else $LUA_INIT: "@file" runs the file, anything else is
** Lua code, as in lua */
static int handle_luainit (lua_State *L) {
  const char *name = "=LUA_INIT_" LUA_VERSION_MAJOR "_" LUA_VERSION_MINOR;
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') {
    int status = luaL_loadfile(L, init + 1);
    if (status == LUA_OK) status = docall(L, 0, 0);
    return report(L, status);
  }
  return dostring(L, init, name);
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
** Read-Eval-Print Loop
** ===================================================================
*/

/* print what the line returned, through the global print (used when
** lunet.repl did not load) */
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

static double now (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* after a line ran: lunet.repl.done(ok, seconds, results...) shows the
** results (the only values on the stack) and the time */
static void show_results (lua_State *L, int ok, double seconds) {
  int n = lua_gettop(L);
  if (lt_repl_field(L, "done") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    l_print(L);
    return;
  }
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_insert(L, 1);
  lua_pushboolean(L, ok);
  lua_insert(L, 2);
  lua_pushnumber(L, seconds);
  lua_insert(L, 3);
  if (lua_pcall(L, n + 2, 0, 0) != LUA_OK)
    l_message(progname, lua_pushfstring(L, "error showing the results (%s)",
                                        luaL_tolstring(L, -1, NULL)));
}

/* lunet.repl.setup(rc): help() and the startup file */
static void repl_setup (lua_State *L, int rc) {
  if (lt_repl_field(L, "setup") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return;
  }
  lua_pushboolean(L, rc);
  report(L, docall(L, 1, 0));
}

/* 1 unless a line failed with stdin not a terminal (a script piped in) */
static int doREPL (lua_State *L, int rc) {
  int status, failed = 0;
  const char *oldprogname = progname;
  progname = NULL;  /* the user sees where errors come from */
  lt_repl_setup(L, interactive);
  repl_setup(L, rc);
  while ((status = lt_repl_loadline(L)) != -1) {
    double t0 = now();
    if (status == LT_SKIP) continue;
    if (status == LUA_OK)
      status = docall(L, 0, LUA_MULTRET);
    if (status != LUA_OK) {
      report(L, status);
      failed = 1;
    }
    show_results(L, status == LUA_OK, now() - t0);
  }
  lua_settop(L, 0);
  if (interactive) fputc('\n', stdout);  /* leave the shell prompt clean */
  fflush(stdout);
  progname = oldprogname;
  return interactive || !failed;
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
  int noenv;     /* -E */
  int norc;      /* --norc */
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
    else if (strcmp(o, "-E") == 0) a->noenv = 1;
    else if (strcmp(o, "--norc") == 0) a->norc = 1;
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

/* exit statuses */
#define LT_EXIT_FAIL  1   /* a script, -e or a piped REPL line failed */
#define LT_EXIT_USAGE 2   /* a bad command line */

static int exit_with (lua_State *L, int status) {
  lua_pushinteger(L, status);
  return 1;
}

/*
** Everything runs inside this protected function, so a memory error
** anywhere is reported, and main always reaches lua_close.  It returns
** the exit status.
*/
static int pmain (lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  Args a;
  int optlim, repl;
  collectargs(argv, argc, &a);
  if (a.bad) {
    bad_option(argv[a.bad]);
    return exit_with(L, LT_EXIT_USAGE);
  }
  if (a.help) {
    print_usage(stdout);
    return exit_with(L, EXIT_SUCCESS);
  }
  optlim = a.script ? a.script : argc;
  interactive = isatty(STDIN_FILENO);
  /* with nothing else to do, lunet is a REPL (on a pipe too) */
  repl = a.repl || (a.script == 0 && !a.execute && !a.version);
  if (a.version || (repl && interactive))
    print_version();
  if (a.noenv) {  /* as lua -E: the package library ignores LUA_PATH too */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  preload_core(L);
  set_tree_path(L);
  create_argtable(L, argv, argc, a.script);
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);  /* as lua.c: most objects die young */
  if (dolibrary(L, "lunet") != LUA_OK ||
      (!a.noenv && handle_luainit(L) != LUA_OK))
    return exit_with(L, LT_EXIT_FAIL);
  if (a.version) print_blas_info(L);
  if (!runargs(L, argv, optlim) ||
      (a.script && handle_script(L, argv + a.script, argc - a.script) != LUA_OK) ||
      (repl && !doREPL(L, !a.norc && !a.noenv)))
    return exit_with(L, LT_EXIT_FAIL);
  return exit_with(L, EXIT_SUCCESS);
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
  result = status == LUA_OK ? (int)lua_tointeger(L, -1) : EXIT_FAILURE;
  report(L, status);
  /* closing frees every tensor, so a leak checker sees only real leaks */
  lua_close(L);
  return result;
}

/* }================================================================== */
