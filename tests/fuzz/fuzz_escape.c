/*
 * fuzz_escape.c - fuzz harness for the by-name escaping (src/escape.c).
 *
 * The input is a token name.  esc_name must give a safe entry: no '/',
 * no control byte, no '~', no invisible format character (Unicode Cf, such
 * as U+202E), valid UTF-8, a '\' only to start "\xNN", never "." or "..",
 * and the name itself when nothing in it needed escaping.
 * esc_unescape must give the name back, byte for byte.  esc_entry, with
 * and without the "~<ID>" suffix, must give at most ESC_NAME_MAX bytes:
 * the escaped name itself, or its longest prefix that ends between whole
 * units, followed by "~<ID>": a unit is a character, a lone escape, or the
 * escapes that spell one whole character ("\xe2\x80\xae").  Buffers are allocated at
 * exactly the documented sizes, so that a sanitizer catches any overrun.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "utf8_oracle.h"
#include "fuzz.h"
#include "pat.h"

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Does the name need any escaping at all (by the rules in escape.h)? */
static bool needs_escape(const unsigned char *s, size_t n)
{
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return true;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t u = oracle_utf8_decode(s + i, n - i, &cp);

		if (!u || s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' || s[i] == '\\' ||
		    s[i] == '~' || oracle_is_format(cp))
			return true;
		i += u;
	}
	return false;
}

/* The byte of the escape "\xNN" at e[i] (len bytes in all), or -1. */
static int escaped_byte(const char *e, size_t i, size_t len)
{
	unsigned v;

	if (i + 4 > len || e[i] != '\\' || e[i + 1] != 'x' || !is_hex(e[i + 2]) ||
	    !is_hex(e[i + 3]) || sscanf(e + i + 2, "%2x", &v) != 1)
		return -1;
	return (int)v;
}

/* Length of the unit at e[i] (see the top of the file). */
static size_t unit_at(const char *e, size_t i, size_t len)
{
	unsigned char bytes[4];
	size_t k = 0, u;
	int b;

	if (e[i] != '\\') {
		u = oracle_utf8_char((const unsigned char *)e + i, len - i);
		return u ? u : 1;
	}
	while (k < 4 && (b = escaped_byte(e, i + 4 * k, len)) >= 0)
		bytes[k++] = (unsigned char)b;
	u = k ? oracle_utf8_char(bytes, k) : 0;
	return u > 1 ? 4 * u : 4;
}

/*
 * Check that e (len bytes, NUL-terminated) is a sequence of whole units:
 * "\xNN" escapes and UTF-8 characters that need no escaping.
 */
static void check_units(const char *e, size_t len)
{
	const unsigned char *u = (const unsigned char *)e;

	FUZZ_CHECK(e[len] == '\0' && strlen(e) == len);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t c = oracle_utf8_decode(u + i, len - i, &cp);

		FUZZ_CHECK(c > 0);
		FUZZ_CHECK(u[i] >= 0x20 && u[i] != 0x7f && u[i] != '/' && u[i] != '~');
		FUZZ_CHECK(!oracle_is_format(cp));
		if (u[i] == '\\') {
			FUZZ_CHECK(i + 4 <= len && e[i + 1] == 'x' &&
				   is_hex(e[i + 2]) && is_hex(e[i + 3]));
			c = 4;
		}
		i += c;
	}
}

/* Check esc_entry on escaped name e (len bytes) of original name. */
static void check_entry(const char *e, size_t len, const char *name, size_t name_len,
			int64_t id, int with_suffix)
{
	char *out = malloc(ESC_NAME_MAX + 1), suffix[32], *dec;
	size_t n, slen, keep, dlen;

	FUZZ_CHECK(out != NULL);
	n = esc_entry(e, len, id, with_suffix, out);
	FUZZ_CHECK(n >= 1 && n <= ESC_NAME_MAX && strlen(out) == n);
	FUZZ_CHECK(strchr(out, '/') == NULL);
	FUZZ_CHECK(strcmp(out, ".") != 0 && strcmp(out, "..") != 0);
	if (!with_suffix && len > 0 && len <= ESC_NAME_MAX) {
		FUZZ_CHECK(n == len && memcmp(out, e, len) == 0);
		free(out);
		return;
	}
	slen = (size_t)snprintf(suffix, sizeof(suffix), "~%" PRId64, id);
	FUZZ_CHECK(n >= slen && strcmp(out + n - slen, suffix) == 0);
	keep = n - slen;
	FUZZ_CHECK(keep <= len && memcmp(out, e, keep) == 0);
	/* Cut between units: the kept part decodes to a prefix of the name. */
	out[keep] = '\0';
	check_units(out, keep);
	for (size_t i = 0; i < keep; i += unit_at(e, i, len))
		FUZZ_CHECK(i + unit_at(e, i, len) <= keep);
	dec = malloc(keep + 1);
	FUZZ_CHECK(dec != NULL);
	dlen = esc_unescape(out, dec);
	FUZZ_CHECK(dlen <= name_len && memcmp(dec, name, dlen) == 0);
	/* ... and the longest such prefix: the next unit would not fit. */
	if (keep < len) {
		FUZZ_CHECK(keep + unit_at(e, keep, len) + slen > ESC_NAME_MAX);
	}
	free(dec);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name = (const char *)data;
	char *esc = malloc(ESC_BUF_SIZE(size)), *dec;
	size_t len, dlen;
	uint64_t h = 1469598103934665603u;
	int64_t id;

	FUZZ_CHECK(esc != NULL);
	len = esc_name(name, size, esc);
	FUZZ_CHECK(len < ESC_BUF_SIZE(size));
	check_units(esc, len);
	FUZZ_CHECK(strcmp(esc, ".") != 0 && strcmp(esc, "..") != 0);
	if (!needs_escape(data, size))
		FUZZ_CHECK(len == size && memcmp(esc, name, size) == 0);

	/* Reversible: unescaping gives the name back, NUL bytes included. */
	dec = malloc(len + 1);
	FUZZ_CHECK(dec != NULL);
	dlen = esc_unescape(esc, dec);
	FUZZ_CHECK(dlen == size && memcmp(dec, name, size) == 0);

	/* An ID in the range pat.c accepts, varied with the input; at times an extreme. */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211u;
	id = (int64_t)(h % ((uint64_t)PAT_ID_MAX + 1));
	if (size % 3 == 0)
		id = size % 2 ? PAT_ID_MAX : 0;
	check_entry(esc, len, name, size, id, 0);
	check_entry(esc, len, name, size, id, 1);
	free(dec);
	free(esc);
	return 0;
}
