/*
 * escape.c - by-name entry names; see escape.h.
 */
#include "escape.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

size_t esc_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	/* The second byte's range excludes overlong forms and surrogates. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static size_t put_hex(char *out, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 15];
	return 4;
}

size_t esc_name(const char *name, size_t len, char *out)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t o = 0;

	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
		for (size_t i = 0; i < len; i++)
			o += put_hex(out + o, '.');
		out[o] = '\0';
		return o;
	}
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t u = esc_utf8_len(s + i, len - i);

		if (u == 0 || c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '~') {
			o += put_hex(out + o, c);
			i++;
			continue;
		}
		memcpy(out + o, s + i, u);
		o += u;
		i += u;
	}
	out[o] = '\0';
	return o;
}

/* Length of the unit (an escape or one UTF-8 character) at s[i]. */
static size_t unit_len(const char *s, size_t i, size_t n)
{
	size_t u;

	if (s[i] == '\\' && i + 4 <= n)
		return 4;
	u = esc_utf8_len((const unsigned char *)s + i, n - i);
	return u ? u : 1;
}

size_t esc_entry(const char *escaped, size_t len, int64_t id, int with_suffix,
		 char *out)
{
	char suffix[24];
	size_t slen, keep = 0;

	if (!with_suffix && len > 0 && len <= ESC_NAME_MAX) {
		memcpy(out, escaped, len);
		out[len] = '\0';
		return len;
	}
	slen = (size_t)snprintf(suffix, sizeof(suffix), "~%" PRId64, id);
	while (keep < len) {
		size_t u = unit_len(escaped, keep, len);

		if (keep + u + slen > ESC_NAME_MAX)
			break;
		keep += u;
	}
	memcpy(out, escaped, keep);
	memcpy(out + keep, suffix, slen + 1);
	return keep + slen;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t esc_unescape(const char *s, char *out)
{
	size_t o = 0;

	for (size_t i = 0; s[i];) {
		if (s[i] == '\\' && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 &&
		    hexval(s[i + 3]) >= 0) {
			out[o++] = (char)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
			i += 4;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	return o;
}
