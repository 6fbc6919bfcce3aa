/*
** json.h -- a strict reader for the JSON header of a binary file.
**
** It accepts only what such a header needs (objects, arrays, strings,
** integers) and builds no tree: the caller walks objects and arrays with
** lt_json_member and lt_json_item and reads each value where it stands.
** Errors read "OP: PATH: invalid header JSON at byte N: what".
*/
#ifndef LT_JSON_H
#define LT_JSON_H

#include <stdint.h>

/*
** The header parser works on [s, end) with a cursor; no NUL terminator
** is relied on.  Every function returns 0 (or a count) on success and -1
** after setting the error.
*/
typedef struct lt_json {
  const char *s, *p, *end;
  const char *op, *path;    /* who reads which file, for error messages */
} lt_json;

/* set the error at the cursor ("what" says what is wrong); both return -1 */
int lt_json_fail(lt_json *j, const char *what);
int lt_json_oom(lt_json *j);

int lt_json_peek(lt_json *j);                 /* next non-blank byte, -1 at end */
int lt_json_string(lt_json *j, char **out);   /* out NULL: check and skip */
int lt_json_isnum(int c);                     /* c can start an integer */
int lt_json_int(lt_json *j, int64_t *v);      /* no fraction, no exponent */

/* walk an object's members / an array's items: see json.c */
int lt_json_member(lt_json *j, int *first, char **key);
int lt_json_item(lt_json *j, int *first);

/* skip any accepted value; depth is how deep it sits (at most 64) */
int lt_json_skip(lt_json *j, int depth);

#endif
