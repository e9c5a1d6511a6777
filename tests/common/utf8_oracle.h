/*
 * utf8_oracle.h - an independent, strict UTF-8 decoder for tests: the unit
 * tests and the fuzz harnesses check src/escape.c against it, so it must
 * not share code with what it checks.
 */
#ifndef SYNERGYFS_UTF8_ORACLE_H
#define SYNERGYFS_UTF8_ORACLE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length of the valid UTF-8 character at s (n bytes left, n > 0), or 0:
 * decodes the code point and rejects overlong forms, surrogates and values
 * past U+10FFFF.
 */
static inline size_t oracle_utf8_char(const unsigned char *s, size_t n)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

#endif
