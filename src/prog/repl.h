/*
** repl.h -- what main.c and repl.c (the REPL's input side) share.
*/
#ifndef LT_REPL_H
#define LT_REPL_H

#include <lua.h>

#define LT_PROGNAME "lunet"
#define LT_HISTFILE ".lunet_history"   /* in $HOME, unless $LUNET_HISTORY */

/* loadline's result when Ctrl-C abandoned the input: nothing to run */
#define LT_SKIP     (-2)

/* before the first line; tty: stdin is a terminal, so use readline with
** prompts, history and completion (else plain lines, no prompts).  Loads
** the Lua module lunet.repl. */
void lt_repl_setup (lua_State *L, int tty);

/* push lunet.repl's field `name` and return its type (nil when the Lua
** module did not load: the REPL then works without it) */
int lt_repl_field (lua_State *L, const char *name);

/* compile the next input: -1 end, LT_SKIP, or a status with the function
** (or error message) as the only value on the stack */
int lt_repl_loadline (lua_State *L);

/* in main.c: sigaction without SA_RESTART, so a signal interrupts the
** REPL's select() */
void lt_setsignal (int sig, void (*handler)(int));

#endif
