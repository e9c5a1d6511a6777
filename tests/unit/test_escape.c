/*
 * test_escape.c - unit tests for the by-name escaping: what esc_name()
 * leaves alone and what it escapes, that esc_unescape() undoes it exactly,
 * and that esc_entry() adds the "~<ID>" suffix and cuts long names only
 * between whole characters and escapes.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "escape.h"
#include "utf8_oracle.h"
#include "pat.h"

#define MAX_IN 4096

static char esc_buf[ESC_BUF_SIZE(MAX_IN)];
static char unesc_buf[ESC_BUF_SIZE(MAX_IN)];

static bool valid_utf8(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;

	for (size_t i = 0; i < n;) {
		size_t u = oracle_utf8_char(s + i, n - i);

		if (!u)
			return false;
		i += u;
	}
	return true;
}

/*
 * Is s (n bytes) a well-formed escaped name: valid UTF-8, no '/', '~',
 * control byte, DEL or format character, and every '\' starting a
 * lowercase "\xNN"?
 */
static bool well_formed(const char *s, size_t n)
{
	if (!valid_utf8(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		size_t u = oracle_utf8_decode((const unsigned char *)s + i, n - i, &cp);

		if (u > 1) {
			if (oracle_is_format(cp))
				return false;
			i += u - 1;
			continue;
		}

		if (c < 0x20 || c == 0x7f || c == '/' || c == '~')
			return false;
		if (c == '\\') {
			if (i + 4 > n || s[i + 1] != 'x' ||
			    !strchr("0123456789abcdef", s[i + 2]) || !s[i + 2] ||
			    !strchr("0123456789abcdef", s[i + 3]) || !s[i + 3])
				return false;
			i += 3;
		}
	}
	return true;
}

/* Escape n bytes of in into esc_buf; check the result's length and form. */
static size_t escape(const char *in, size_t n)
{
	size_t len = esc_name(in, n, esc_buf);

	CHECK_EQ_INT(len, strlen(esc_buf));
	return len;
}

/* Escape in (n bytes), compare with want, and check it unescapes back. */
static void check_escape(const char *file, int line, const char *in, size_t n,
			 const char *want)
{
	size_t len = escape(in, n), back;

	check_mem(file, line, "esc_name", esc_buf, len, want, strlen(want));
	if (!well_formed(esc_buf, len))
		check_fail(file, line, "escaped form is not well formed");
	back = esc_unescape(esc_buf, unesc_buf);
	check_mem(file, line, "esc_unescape(esc_name(x)) == x", unesc_buf, back, in, n);
}

#define CHECK_ESC(in, want) check_escape(__FILE__, __LINE__, (in), strlen(in), (want))

TEST(plain_ascii_unchanged)
{
	CHECK_ESC("Teams integ", "Teams integ");
	CHECK_ESC("asddadas", "asddadas");
	CHECK_ESC("hello, world! (#1) [a-z] {x} @$%^&*=+;:'\"<>?|`",
		  "hello, world! (#1) [a-z] {x} @$%^&*=+;:'\"<>?|`");
	CHECK_ESC("0123456789", "0123456789");
	CHECK_ESC(" leading and trailing ", " leading and trailing ");
}

TEST(special_bytes_escaped)
{
	CHECK_ESC("ci/cd deploy", "ci\\x2fcd deploy");
	CHECK_ESC("/", "\\x2f");
	CHECK_ESC("back\\slash\ttab", "back\\x5cslash\\x09tab");
	CHECK_ESC("a~b", "a\\x7eb");
	CHECK_ESC("Backup~5", "Backup\\x7e5");
	CHECK_ESC("line\nbreak", "line\\x0abreak");
	CHECK_ESC("cr\r", "cr\\x0d");
	CHECK_ESC("del\x7f", "del\\x7f");
	CHECK_ESC("\x01\x1f\x1b[0m", "\\x01\\x1f\\x1b[0m");
	/* A literal escape in the name stays a literal. */
	CHECK_ESC("\\x41", "\\x5cx41");
	CHECK_ESC("\\\\", "\\x5c\\x5c");
}

TEST(dot_names)
{
	CHECK_ESC(".", "\\x2e");
	CHECK_ESC("..", "\\x2e\\x2e");
	CHECK_ESC("...", "...");
	CHECK_ESC(".hidden", ".hidden");
	CHECK_ESC("a.", "a.");
	CHECK_ESC(". ", ". ");
	CHECK_ESC("./", ".\\x2f");
}

TEST(valid_utf8_unchanged)
{
	CHECK_ESC("Café ☕ Zürich", "Café ☕ Zürich");
	CHECK_ESC("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");           /* U+1F600 */
	CHECK_ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");           /* U+10FFFF */
	CHECK_ESC("\xc2\xa0", "\xc2\xa0");                           /* U+00A0 */
	CHECK_ESC("\xef\xbf\xbd", "\xef\xbf\xbd");                   /* U+FFFD */
	CHECK_ESC("\xed\x9f\xbf", "\xed\x9f\xbf");                   /* U+D7FF */
	CHECK_ESC("日本語のトークン", "日本語のトークン");
}

TEST(invalid_utf8_escaped)
{
	CHECK_ESC("\xff", "\\xff");
	CHECK_ESC("a\xfe" "b", "a\\xfeb");
	CHECK_ESC("\x80", "\\x80");
	CHECK_ESC("\xe2\x98", "\\xe2\\x98");                 /* truncated ☕ */
	CHECK_ESC("\xe2\x98z", "\\xe2\\x98z");
	CHECK_ESC("\xf0\x9f\x98", "\\xf0\\x9f\\x98");
	CHECK_ESC("\xc0\xaf", "\\xc0\\xaf");                 /* overlong '/' */
	CHECK_ESC("\xe0\x80\xaf", "\\xe0\\x80\\xaf");
	CHECK_ESC("\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf");
	CHECK_ESC("\xed\xa0\x80", "\\xed\\xa0\\x80");        /* surrogate D800 */
	CHECK_ESC("\xed\xbf\xbf", "\\xed\\xbf\\xbf");
	CHECK_ESC("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
	CHECK_ESC("\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80");
	CHECK_ESC("Caf\xe9", "Caf\\xe9");                    /* Latin-1 */
	CHECK_ESC("\xc3\xa9\xc3", "\xc3\xa9\\xc3");
}

/* Invisible format characters are escaped byte by byte, as invalid bytes are. */
TEST(format_chars_escaped)
{
	/* The spoof: U+202E makes "abc<RLO>txt.exe" show as "abcexe.txt". */
	CHECK_ESC("abc\xe2\x80\xaetxt.exe", "abc\\xe2\\x80\\xaetxt.exe");
	/* The bidirectional controls. */
	CHECK_ESC("\xd8\x9c", "\\xd8\\x9c");                     /* U+061C ALM */
	CHECK_ESC("\xe2\x80\x8e", "\\xe2\\x80\\x8e");           /* U+200E LRM */
	CHECK_ESC("\xe2\x80\x8f", "\\xe2\\x80\\x8f");           /* U+200F RLM */
	CHECK_ESC("\xe2\x80\xaa", "\\xe2\\x80\\xaa");           /* U+202A LRE */
	CHECK_ESC("\xe2\x80\xab", "\\xe2\\x80\\xab");           /* U+202B RLE */
	CHECK_ESC("\xe2\x80\xac", "\\xe2\\x80\\xac");           /* U+202C PDF */
	CHECK_ESC("\xe2\x80\xad", "\\xe2\\x80\\xad");           /* U+202D LRO */
	CHECK_ESC("\xe2\x81\xa6", "\\xe2\\x81\\xa6");           /* U+2066 LRI */
	CHECK_ESC("\xe2\x81\xa7", "\\xe2\\x81\\xa7");           /* U+2067 RLI */
	CHECK_ESC("\xe2\x81\xa8", "\\xe2\\x81\\xa8");           /* U+2068 FSI */
	CHECK_ESC("\xe2\x81\xa9", "\\xe2\\x81\\xa9");           /* U+2069 PDI */
	/* Other invisible format characters. */
	CHECK_ESC("a\xe2\x80\x8b" "b", "a\\xe2\\x80\\x8bb");       /* U+200B ZWSP */
	CHECK_ESC("\xe2\x80\x8c\xe2\x80\x8d",                    /* U+200C, U+200D */
		  "\\xe2\\x80\\x8c\\xe2\\x80\\x8d");
	CHECK_ESC("\xe2\x81\xa0", "\\xe2\\x81\\xa0");           /* U+2060 WJ */
	CHECK_ESC("\xe2\x81\xa4", "\\xe2\\x81\\xa4");           /* U+2064 */
	CHECK_ESC("\xef\xbb\xbfname", "\\xef\\xbb\\xbfname");     /* U+FEFF BOM */
	CHECK_ESC("co\xc2\xadop", "co\\xc2\\xadop");              /* U+00AD SHY */
	CHECK_ESC("\xf3\xa0\x80\x81", "\\xf3\\xa0\\x80\\x81");  /* U+E0001 */
	/* Their neighbours are visible and stay. */
	CHECK_ESC("\xe2\x80\x8a", "\xe2\x80\x8a");                 /* U+200A hair space */
	CHECK_ESC("\xe2\x80\xaf", "\xe2\x80\xaf");                 /* U+202F */
	CHECK_ESC("\xe2\x81\xb0", "\xe2\x81\xb0");                 /* U+2070 */
	CHECK_ESC("\xc2\xac\xc2\xae", "\xc2\xac\xc2\xae");         /* U+00AC, U+00AE */
	CHECK_ESC("\xef\xbb\xbe", "\xef\xbb\xbe");                 /* U+FEFE */
	/* A truncated U+202E is invalid UTF-8, escaped as before. */
	CHECK_ESC("\xe2\x80", "\\xe2\\x80");
}

/* Every character: escaped exactly when it is a format character. */
TEST(format_char_sweep)
{
	for (uint32_t cp = 0x80; cp <= 0x10ffff; cp++) {
		char in[5], want[20];
		size_t n;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		if (cp < 0x800) {
			in[0] = (char)(0xc0 | cp >> 6);
			n = 1;
		} else if (cp < 0x10000) {
			in[0] = (char)(0xe0 | cp >> 12);
			in[1] = (char)(0x80 | (cp >> 6 & 0x3f));
			n = 2;
		} else {
			in[0] = (char)(0xf0 | cp >> 18);
			in[1] = (char)(0x80 | (cp >> 12 & 0x3f));
			in[2] = (char)(0x80 | (cp >> 6 & 0x3f));
			n = 3;
		}
		in[n] = (char)(0x80 | (cp & 0x3f));
		in[++n] = '\0';
		if (oracle_is_format(cp)) {
			for (size_t i = 0; i < n; i++)
				snprintf(want + 4 * i, 5, "\\x%02x", (unsigned char)in[i]);
		} else {
			memcpy(want, in, n + 1);
		}
		if (escape(in, n) != strlen(want) || strcmp(esc_buf, want) != 0) {
			check_fail(__FILE__, __LINE__, "U+%04" PRIX32 " escaped to \"%s\"", cp, esc_buf);
			return;
		}
	}
}

/* Every single non-NUL byte: escaped exactly when it must be. */
TEST(single_byte_sweep)
{
	for (int c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 }, want[8];
		bool keep = c >= 0x20 && c < 0x7f && c != '/' && c != '\\' &&
			    c != '~' && c != '.';

		if (keep)
			snprintf(want, sizeof(want), "%c", c);
		else
			snprintf(want, sizeof(want), "\\x%02x", c);
		check_escape(__FILE__, __LINE__, in, 1, want);
	}
}

/* A small deterministic generator (xorshift32). */
static uint32_t rng_state = 2463534242u;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Fill buf with n non-NUL bytes biased towards the interesting ones. */
static void random_name(char *buf, size_t n)
{
	static const char *const pieces[] = {
		"/", "\\", "~", ".", "..", "\t", "\n", "\x7f", "é", "☕",
		"\xf0\x9f\x98\x80", "\xff", "\xe2\x98", "\xc0\xaf", "\xed\xa0\x80",
		"\\x2f", "~12", "\x80", "\xe2\x80\xae", "\xef\xbb\xbf", "\xc2\xad",
	};
	size_t i = 0;

	while (i < n) {
		uint32_t r = rng();

		if (r % 3 == 0) {
			const char *p = pieces[(r >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
			size_t l = strlen(p);

			if (i + l > n)
				l = n - i;
			memcpy(buf + i, p, l);
			i += l;
		} else if (r % 3 == 1) {
			buf[i++] = (char)(0x20 + (r >> 8) % 0x5f);
		} else {
			buf[i++] = (char)(1 + (r >> 8) % 255);
		}
	}
}

/* The result of esc_entry is usable as an entry name. */
static void check_entry_name(const char *file, int line, const char *e, size_t n)
{
	if (n == 0 || n > ESC_NAME_MAX || strlen(e) != n)
		check_fail(file, line, "entry length %zu (strlen %zu)", n, strlen(e));
	if (memchr(e, '/', n) || strcmp(e, ".") == 0 || strcmp(e, "..") == 0)
		check_fail(file, line, "entry \"%s\" is not a valid file name", e);
	if (!valid_utf8(e, n))
		check_fail(file, line, "entry is not valid UTF-8");
}

TEST(random_round_trip)
{
	char in[MAX_IN], entry[ESC_NAME_MAX + 1];

	for (int iter = 0; iter < 5000; iter++) {
		size_t n = rng() % (iter < 4000 ? 24 : 400), len, back, elen;

		random_name(in, n);
		len = escape(in, n);
		if (!well_formed(esc_buf, len))
			check_fail(__FILE__, __LINE__, "iteration %d: escaped form not well formed", iter);
		if (len == 1 && esc_buf[0] == '.')
			check_fail(__FILE__, __LINE__, "iteration %d: escaped to \".\"", iter);
		if (len == 2 && esc_buf[0] == '.' && esc_buf[1] == '.')
			check_fail(__FILE__, __LINE__, "iteration %d: escaped to \"..\"", iter);
		back = esc_unescape(esc_buf, unesc_buf);
		CHECK_EQ_MEM(unesc_buf, back, in, n);
		elen = esc_entry(esc_buf, len, iter, iter & 1, entry);
		check_entry_name(__FILE__, __LINE__, entry, elen);
	}
}

TEST(entry_short)
{
	char out[ESC_NAME_MAX + 1];

	CHECK_EQ_INT(esc_entry("abc", 3, 42, 0, out), 3);
	CHECK_EQ_STR(out, "abc");
	CHECK_EQ_INT(esc_entry("abc", 3, 42, 1, out), 6);
	CHECK_EQ_STR(out, "abc~42");
	CHECK_EQ_INT(esc_entry("Backup", 6, 5, 1, out), 8);
	CHECK_EQ_STR(out, "Backup~5");
	CHECK_EQ_INT(esc_entry("", 0, 9, 0, out), 2);
	CHECK_EQ_STR(out, "~9");
	CHECK_EQ_INT(esc_entry("", 0, 9, 1, out), 2);
	CHECK_EQ_STR(out, "~9");
	CHECK_EQ_INT(esc_entry("x", 1, 0, 1, out), 3);
	CHECK_EQ_STR(out, "x~0");
	CHECK_EQ_INT(esc_entry("x", 1, PAT_ID_MAX, 1, out), 18);
	CHECK_EQ_STR(out, "x~9007199254740991");
	/* Only len bytes of the input count. */
	CHECK_EQ_INT(esc_entry("abcdef", 2, 1, 0, out), 2);
	CHECK_EQ_STR(out, "ab");
}

TEST(entry_length_limit)
{
	char name[400], out[ESC_NAME_MAX + 1], want[ESC_NAME_MAX + 1];

	memset(name, 'L', sizeof(name));
	/* 255 bytes fit as they are; one more needs a cut and the suffix. */
	CHECK_EQ_INT(esc_entry(name, 255, 12, 0, out), 255);
	CHECK_EQ_MEM(out, strlen(out), name, 255);
	CHECK_EQ_INT(esc_entry(name, 256, 12, 0, out), 255);
	memset(want, 'L', 252);
	strcpy(want + 252, "~12");
	CHECK_EQ_STR(out, want);
	CHECK_EQ_INT(esc_entry(name, 300, 12, 0, out), 255);
	CHECK_EQ_STR(out, want);
	CHECK_EQ_INT(esc_entry(name, 300, 12, 1, out), 255);
	CHECK_EQ_STR(out, want);
	CHECK_EQ_INT(esc_entry(name, 255, 12, 1, out), 255);
	CHECK_EQ_STR(out, want);
	/* 252 bytes plus "~12" is exactly 255: nothing to cut. */
	CHECK_EQ_INT(esc_entry(name, 252, 12, 1, out), 255);
	CHECK_EQ_STR(out, want);
	memset(want, 'L', 251);
	strcpy(want + 251, "~123");
	CHECK_EQ_INT(esc_entry(name, 252, 123, 1, out), 255);
	CHECK_EQ_STR(out, want);
}

/*
 * Length of the escaped unit at s[i]: a UTF-8 character, a "\xNN" escape,
 * or the escapes that spell one whole character ("\xe2\x80\xae": 12).
 */
static size_t unit_at(const char *s, size_t i, size_t n)
{
	unsigned char bytes[4];
	unsigned v;
	size_t k = 0, u;

	if (s[i] == '\\') {
		while (k < 4 && i + 4 * (k + 1) <= n && sscanf(s + i + 4 * k, "\\x%2x", &v) == 1)
			bytes[k++] = (unsigned char)v;
		u = k ? oracle_utf8_char(bytes, k) : 0;
		return u > 1 ? 4 * u : 4;
	}
	u = oracle_utf8_char((const unsigned char *)s + i, n - i);
	return u ? u : 1;
}

/*
 * Escape a name and make its entry with ID id.  An escaped name that fits
 * and needs no suffix is kept whole; otherwise the entry must fit, end in
 * "~<id>", and keep the longest whole-unit prefix of the escaped name,
 * which unescapes to a prefix of the original.
 */
static void check_long(const char *file, int line, const char *name, int64_t id,
		       int with_suffix)
{
	size_t n = strlen(name), len = escape(name, n), elen, keep, back;
	char out[ESC_NAME_MAX + 1], suffix[32], *tilde;
	size_t slen = (size_t)snprintf(suffix, sizeof(suffix), "~%" PRId64, id);

	elen = esc_entry(esc_buf, len, id, with_suffix, out);
	check_entry_name(file, line, out, elen);
	if (!with_suffix && len <= ESC_NAME_MAX) {
		check_mem(file, line, "short name kept whole", out, elen, esc_buf, len);
		return;
	}
	tilde = strrchr(out, '~');
	if (!tilde || strcmp(tilde, suffix) != 0) {
		check_fail(file, line, "entry \"%s\" does not end in \"%s\"", out, suffix);
		return;
	}
	keep = (size_t)(tilde - out);
	if (memcmp(out, esc_buf, keep) != 0)
		check_fail(file, line, "entry is not a prefix of the escaped name");
	/* The cut falls on a unit boundary of the escaped name... */
	for (size_t i = 0; i < keep; i += unit_at(esc_buf, i, len)) {
		if (i + unit_at(esc_buf, i, len) > keep) {
			check_fail(file, line, "cut at %zu splits the unit at %zu", keep, i);
			break;
		}
	}
	/* ...and is the last one that leaves room for the suffix. */
	if (keep < len && keep + unit_at(esc_buf, keep, len) + slen <= ESC_NAME_MAX)
		check_fail(file, line, "cut at %zu is shorter than needed", keep);
	*tilde = '\0';
	back = esc_unescape(out, unesc_buf);
	if (back > n || memcmp(unesc_buf, name, back) != 0)
		check_fail(file, line, "the kept part does not unescape to a prefix");
}

/* A string of count copies of unit. */
static char *repeat(const char *unit, size_t count)
{
	size_t l = strlen(unit);
	char *s = malloc(l * count + 1);

	for (size_t i = 0; s && i < count; i++)
		memcpy(s + i * l, unit, l);
	if (s)
		s[l * count] = '\0';
	return s;
}

TEST(entry_cuts_whole_units)
{
	static const char *const units[] = {
		"é", "☕", "\xf0\x9f\x98\x80", "/", "~", "\\", "\xff", "a/é☕\xf0\x9f\x98\x80~",
		"ab\xe2\x98", "Zürich ", "\t.", "\xe2\x80\xae", "a\xe2\x80\x8b",
		"\xf3\xa0\x80\x81", "\xe2\x80\xae\xe2\x80",
	};
	static const int64_t ids[] = { 1, 12, 123, 4567, 9007199254740991LL };

	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		for (size_t count = 1; count <= 300; count += 7) {
			char *name = repeat(units[u], count);

			if (!name) {
				CHECK(name);
				return;
			}
			if (strlen(name) <= MAX_IN)
				for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
					check_long(__FILE__, __LINE__, name, ids[k], 0);
					check_long(__FILE__, __LINE__, name, ids[k], 1);
				}
			free(name);
		}
	}
}

TEST(entry_never_dot)
{
	char out[ESC_NAME_MAX + 1];
	size_t len;

	len = escape(".", 1);
	CHECK_EQ_INT(esc_entry(esc_buf, len, 8, 0, out), 4);
	CHECK_EQ_STR(out, "\\x2e");
	len = escape("..", 2);
	CHECK_EQ_INT(esc_entry(esc_buf, len, 8, 0, out), 8);
	CHECK_EQ_STR(out, "\\x2e\\x2e");
	CHECK_EQ_INT(esc_entry(esc_buf, len, 8, 1, out), 10);
	CHECK_EQ_STR(out, "\\x2e\\x2e~8");
}

static const struct check_test tests[] = {
	TEST_CASE(plain_ascii_unchanged),
	TEST_CASE(special_bytes_escaped),
	TEST_CASE(dot_names),
	TEST_CASE(valid_utf8_unchanged),
	TEST_CASE(invalid_utf8_escaped),
	TEST_CASE(format_chars_escaped),
	TEST_CASE(format_char_sweep),
	TEST_CASE(single_byte_sweep),
	TEST_CASE(random_round_trip),
	TEST_CASE(entry_short),
	TEST_CASE(entry_length_limit),
	TEST_CASE(entry_cuts_whole_units),
	TEST_CASE(entry_never_dot),
};

CHECK_MAIN(tests)
