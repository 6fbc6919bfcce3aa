/*
** lb_term.c -- what the terminal is, for the progress bar and the REPL:
**
**   lunet._term_width([file=io.stdout]) -> columns, or nil when the file
**   is not a terminal (a pipe, a regular file, a closed handle)
**
** Asked of the kernel (isatty, ioctl TIOCGWINSZ), so no shell is started;
** a terminal that does not know its size counts as 80 columns.
*/
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lbind.h"

#define LB_TERM_DEFAULT 80

static int lb_term_width(lua_State *L) {
  FILE *f = stdout;
  struct winsize ws;
  int fd;
  if (!lua_isnoneornil(L, 1)) {
    luaL_Stream *s = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    f = s->closef == NULL ? NULL : s->f;   /* closed: no terminal */
  }
  fd = f == NULL ? -1 : fileno(f);
  if (fd < 0 || !isatty(fd)) {
    lua_pushnil(L);
    return 1;
  }
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    lua_pushinteger(L, ws.ws_col);
  else
    lua_pushinteger(L, LB_TERM_DEFAULT);
  return 1;
}

const luaL_Reg lb_term_funcs[] = {
  {"_term_width", lb_term_width},
  {NULL, NULL}
};
