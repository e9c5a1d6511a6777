/*
 * escape.c - by-name entry names; see escape.h.
 */
#include "escape.h"

#include <inttypes.h>
#include <stdbool.h>
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

/*
 * Invisible characters that change how the text around them shows: the C1
 * controls U+0080-U+009F, the line and paragraph separators U+2028 and
 * U+2029, and Unicode's general category Cf ("format", Unicode 15.1).  U+202E
 * (right-to-left override) makes "abc\u202Etxt.exe" read "abcexe.txt".
 * The bidirectional controls U+061C, U+200E, U+200F, U+202A-U+202E and
 * U+2066-U+2069 are among them, as are U+00AD, U+200B-U+200D and U+FEFF.
 */
static const struct { uint32_t first, last; } format_chars[] = {
	{ 0x0080, 0x009f }, { 0x00ad, 0x00ad }, { 0x0600, 0x0605 }, { 0x061c, 0x061c }, { 0x06dd, 0x06dd },
	{ 0x070f, 0x070f }, { 0x0890, 0x0891 }, { 0x08e2, 0x08e2 }, { 0x180e, 0x180e },
	{ 0x200b, 0x200f }, { 0x2028, 0x2029 }, { 0x202a, 0x202e }, { 0x2060, 0x2064 }, { 0x2066, 0x206f },
	{ 0xfeff, 0xfeff }, { 0xfff9, 0xfffb }, { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },
	{ 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 },
	{ 0xe0020, 0xe007f },
};

/* Is the valid UTF-8 character at s (len bytes, len > 1) one of format_chars? */
static bool is_format_char(const unsigned char *s, size_t len)
{
	uint32_t cp = s[0] & (0x7f >> len);

	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	for (size_t i = 0; i < sizeof(format_chars) / sizeof(format_chars[0]); i++) {
		if (cp < format_chars[i].first)
			return false;
		if (cp <= format_chars[i].last)
			return true;
	}
	return false;
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
		} else if (u > 1 && is_format_char(s + i, u)) {
			/* Each byte of the character: "\xe2\x80\xae" for U+202E. */
			for (size_t k = 0; k < u; k++)
				o += put_hex(out + o, s[i + k]);
			i += u;
		} else {
			memcpy(out + o, s + i, u);
			o += u;
			i += u;
		}
	}
	out[o] = '\0';
	return o;
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

/*
 * Length of the unit at s[i]: one UTF-8 character, a lone escape, or the
 * run of escapes that spells one escaped character ("\xe2\x80\xae" is one
 * unit of 12 bytes), so that a cut never splits a character.
 */
static size_t unit_len(const char *s, size_t i, size_t n)
{
	unsigned char bytes[4];
	size_t k = 0, u;

	if (s[i] == '\\' && i + 4 <= n) {
		while (k < 4 && i + 4 * k + 4 <= n && s[i + 4 * k] == '\\' &&
		       s[i + 4 * k + 1] == 'x' && hexval(s[i + 4 * k + 2]) >= 0 &&
		       hexval(s[i + 4 * k + 3]) >= 0) {
			bytes[k] = (unsigned char)(hexval(s[i + 4 * k + 2]) * 16 +
						   hexval(s[i + 4 * k + 3]));
			k++;
		}
		u = k ? esc_utf8_len(bytes, k) : 0;
		return u > 1 ? 4 * u : 4;
	}
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
