/* Diagnostics list (see diag.h). */
#include "base/diag.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void diag_vadd(struct diag_list *l, enum diag_level level, const char *file, int line,
	       const char *object, const char *path, const char *fmt, va_list ap)
{
	struct diag *d = VEC_PUSH(l->items, l->n);
	d->level = level;
	d->file = xstrdup(file);
	d->line = line;
	d->object = xstrdup(object);
	d->path = (path && *path) ? xstrdup(path) : NULL;
	d->message = xvasprintf(fmt, ap);
	d->kind = DIAG_KIND_NONE;
}

void diag_set_object(struct diag *d, int kind, const char *ns, const char *name)
{
	free(d->obj_namespace);
	free(d->obj_name);
	d->kind = kind;
	d->obj_namespace = xstrdup(ns);
	d->obj_name = xstrdup(name);
}

void diag_append_copy(struct diag_list *l, const struct diag *d)
{
	struct diag *c = VEC_PUSH(l->items, l->n);
	c->level = d->level;
	c->file = xstrdup(d->file);
	c->line = d->line;
	c->object = xstrdup(d->object);
	c->path = xstrdup(d->path);
	c->message = xstrdup(d->message);
	c->flags = d->flags;
	c->kind = d->kind;
	c->obj_namespace = xstrdup(d->obj_namespace);
	c->obj_name = xstrdup(d->obj_name);
}

void diag_add(struct diag_list *l, enum diag_level level, const char *file, int line,
	      const char *object, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(l, level, file, line, object, path, fmt, ap);
	va_end(ap);
}

size_t diag_count(const struct diag_list *l, enum diag_level level)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		n += l->items[i].level == level;
	return n;
}

const char *diag_level_name(enum diag_level level)
{
	switch (level) {
	case DIAG_ERROR:
		return "error";
	case DIAG_WARNING:
		return "warning";
	case DIAG_NOTE:
		return "note";
	}
	return "?";
}

char *diag_format(const struct diag *d)
{
	char *loc;
	if (d->file && d->line > 0)
		loc = xasprintf("%s:%d: ", d->file, d->line);
	else if (d->file)
		loc = xasprintf("%s: ", d->file);
	else
		loc = xstrdup("");
	const char *lvl = d->level == DIAG_WARNING ? "warning: "
			  : d->level == DIAG_NOTE  ? "note: "
						   : "";
	char *s = xasprintf("%s%s%s%s%s%s%s", loc, lvl, d->object ? d->object : "",
			    d->object ? ": " : "", d->path ? d->path : "", d->path ? ": " : "",
			    d->message);
	free(loc);
	return s;
}

void diag_print(const struct diag_list *l, FILE *out)
{
	for (size_t i = 0; i < l->n; i++) {
		char *s = diag_format(&l->items[i]);
		fprintf(out, "%s\n", s);
		free(s);
	}
}

void diag_sort(struct diag_list *l)
{
	/* Insertion sort: stable, and diagnostic lists are short. */
	for (size_t i = 1; i < l->n; i++) {
		struct diag tmp = l->items[i];
		size_t j = i;
		while (j > 0) {
			const struct diag *p = &l->items[j - 1];
			int c = strcmp(p->file ? p->file : "", tmp.file ? tmp.file : "");
			if (c < 0 || (c == 0 && p->line <= tmp.line))
				break;
			l->items[j] = l->items[j - 1];
			j--;
		}
		l->items[j] = tmp;
	}
}

void diag_list_free(struct diag_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].file);
		free(l->items[i].object);
		free(l->items[i].path);
		free(l->items[i].message);
		free(l->items[i].obj_namespace);
		free(l->items[i].obj_name);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
