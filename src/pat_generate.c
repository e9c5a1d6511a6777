/*
 * pat_generate.c - the JSON of generate-pat, inside the pat module: the
 * request's body and the new token in the answer; see pat.h.
 *
 * Owns: the generate-pat body written, the answer's one string read.
 * Must not touch: the token list (pat.c), HTTP (api.c).
 *
 * Both are done by hand, without cJSON: the body is three fields, and the
 * number of days prints exactly as a long (cJSON prints through a double);
 * the answer is one string that is a secret, and cJSON would copy it into
 * blocks of its heap that pat.c's hooks give back unwiped.  Here the only
 * copy outside the answer is a scratch buffer wiped before it is freed.
 *
 *   pat_generate_body("app", "ci \"main\"", 30)
 *     -> {"ClientId":"app","Name":"ci \"main\"","ExpireInDays":30}
 *   pat_secret(" \"ab\\u002fc\"\n") -> the secret "ab/c"
 */
#include "pat.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"

/* The longest a JSON string for n bytes can be: each byte as \u00XX, and quotes. */
#define QUOTED_MAX(n) (6 * (n) + 2)

static const char hex[] = "0123456789abcdef";

/* Write s as a JSON string (quotes included) at out; returns the bytes written. */
static size_t put_string(char *out, const char *s)
{
	size_t o = 0;

	out[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[*p >> 4];
			out[o + 5] = hex[*p & 15];
			o += 6;
		} else {
			out[o++] = (char)*p; /* UTF-8 goes as it is: JSON allows it */
		}
	}
	out[o++] = '"';
	return o;
}

char *pat_generate_body(const char *client_id, const char *name, long days)
{
	static const char k_client[] = "{\"ClientId\":", k_name[] = ",\"Name\":",
			  k_days[] = ",\"ExpireInDays\":";
	size_t lc = strlen(client_id), ln = strlen(name), o = 0;
	char *out;

	if (lc > SIZE_MAX / 16 || ln > SIZE_MAX / 16 - lc)
		return NULL;
	/* The keys, the two strings, a long in decimal (at most 20 bytes), '}' and NUL. */
	out = malloc(sizeof(k_client) + sizeof(k_name) + sizeof(k_days) +
		     QUOTED_MAX(lc) + QUOTED_MAX(ln) + 24);
	if (!out)
		return NULL;
	memcpy(out + o, k_client, sizeof(k_client) - 1);
	o += sizeof(k_client) - 1;
	o += put_string(out + o, client_id);
	memcpy(out + o, k_name, sizeof(k_name) - 1);
	o += sizeof(k_name) - 1;
	o += put_string(out + o, name);
	memcpy(out + o, k_days, sizeof(k_days) - 1);
	o += sizeof(k_days) - 1;
	sprintf(out + o, "%ld}", days);
	return out;
}

static bool json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* What the JSON value starting with c is, for a message that must not quote it. */
static const char *value_kind(char c)
{
	if (c == '{')
		return "an object";
	if (c == '[')
		return "an array";
	if (c == '-' || (c >= '0' && c <= '9'))
		return "a number";
	if (c == 't' || c == 'f')
		return "a boolean";
	if (c == 'n')
		return "null";
	return "not JSON at all";
}

/*
 * The character of the escape after the backslash at p[*i] (*i moves past
 * it), or -1 when the escape is not JSON.  A \b, \n, ... gives its control
 * character, a \uXXXX its code point (a surrogate stays one: it is not
 * ASCII either way).
 */
static long unescape(const char *p, size_t len, size_t *i)
{
	static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
	long cp = 0;

	if (++*i >= len)
		return -1;
	for (const char *s = simple; *s; s += 2)
		if (p[*i] == s[0]) {
			++*i;
			return (unsigned char)s[1];
		}
	if (p[*i] != 'u' || len - *i < 5)
		return -1;
	for (int k = 1; k <= 4; k++) {
		char c = (char)tolower((unsigned char)p[*i + k]);
		const char *d = c ? strchr(hex, c) : NULL;

		if (!d)
			return -1;
		cp = cp * 16 + (d - hex);
	}
	*i += 5;
	return cp;
}

/*
 * Decode the JSON string whose opening quote is body[*i] into out (room
 * for len bytes), stopping after its closing quote.  Returns the decoded
 * length, or sets *e and returns 0.  Every character must be printable
 * ASCII other than space (0x21..0x7e): what a bearer token may hold.
 */
static size_t read_token(const char *body, size_t len, size_t *i, char *out, struct err *e)
{
	size_t n = 0;

	for (++*i; *i < len && body[*i] != '"';) {
		size_t at = *i;
		long c = (unsigned char)body[*i];

		if (c == '\\')
			c = unescape(body, len, i);
		else
			++*i;
		if (c < 0) {
			err_set(e, ERR_PROTO, "the generate-pat answer has an invalid escape at byte %zu",
				at);
			return 0;
		}
		if (c <= 0x20 || c >= 0x7f) {
			err_set(e, ERR_PROTO, "the token in the generate-pat answer has %s at byte %zu: "
				"not usable as a bearer token", c < 0x20 ? "a control character" :
				c == 0x20 ? "a space" : "a character that is not printable ASCII", at);
			return 0;
		}
		if (n == PAT_SECRET_MAX) {
			err_set(e, ERR_PROTO, "the token in the generate-pat answer is longer than "
				"%d bytes: not a token", PAT_SECRET_MAX);
			return 0;
		}
		out[n++] = (char)c;
	}
	if (*i >= len) {
		err_set(e, ERR_PROTO, "the generate-pat answer is cut short: its string does not end");
		return 0;
	}
	++*i;
	if (n == 0)
		err_set(e, ERR_PROTO, "the generate-pat answer is an empty string, not a token");
	return n;
}

enum err_kind pat_secret(const char *body, size_t len, struct secret **out, struct err *e)
{
	size_t i = 0, n;
	char *tmp;
	enum err_kind rc = ERR_PROTO;

	*out = NULL;
	while (i < len && json_ws(body[i]))
		i++;
	if (i == len)
		return err_set(e, ERR_PROTO, "the generate-pat answer is empty");
	if (body[i] != '"')
		return err_set(e, ERR_PROTO, "the generate-pat answer is not a JSON string: it is %s",
			       value_kind(body[i]));
	tmp = malloc(len);
	if (!tmp)
		return err_set(e, ERR_NOMEM, "out of memory");
	n = read_token(body, len, &i, tmp, e);
	if (n == 0)
		goto out;
	while (i < len && json_ws(body[i]))
		i++;
	if (i < len) {
		err_set(e, ERR_PROTO, "the generate-pat answer has more after its string, at byte %zu",
			i);
		goto out;
	}
	*out = secret_new(tmp, n);
	rc = *out ? ERR_OK : err_set(e, ERR_NOMEM, "out of memory");
out:
	explicit_bzero(tmp, len);
	free(tmp);
	return rc;
}
