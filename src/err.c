/*
 * err.c - building error values; see err.h.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

enum err_kind err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return kind;
	e->kind = kind;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return kind;
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->kind = ERR_OK;
	e->msg[0] = '\0';
}

const char *err_kind_name(enum err_kind kind)
{
	switch (kind) {
	case ERR_OK:          return "ok";
	case ERR_AUTH:        return "auth";
	case ERR_TIMEOUT:     return "timeout";
	case ERR_REFUSED:     return "refused";
	case ERR_UNREACHABLE: return "unreachable";
	case ERR_NET:         return "network";
	case ERR_TLS:         return "tls";
	case ERR_HTTP:        return "http";
	case ERR_INVALID:     return "invalid";
	case ERR_NOT_FOUND:   return "not_found";
	case ERR_PROTO:       return "protocol";
	case ERR_TOOBIG:      return "too-big";
	case ERR_NOMEM:       return "nomem";
	case ERR_CONFIG:      return "config";
	}
	return "unknown";
}
