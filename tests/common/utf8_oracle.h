/*
 * utf8_oracle.h - an independent, strict UTF-8 decoder for tests: the unit
 * tests and the fuzz harnesses check src/escape.c against it, so it must
 * not share code with what it checks.
 */
#ifndef SYNERGYFS_UTF8_ORACLE_H
#define SYNERGYFS_UTF8_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Length of the valid UTF-8 character at s (n bytes left, n > 0), or 0,
 * with its code point in *cp: decodes and rejects overlong forms,
 * surrogates and values past U+10FFFF.
 */
static inline size_t oracle_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		*cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < min_cp[len] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/* Length of the valid UTF-8 character at s (n bytes left, n > 0), or 0. */
static inline size_t oracle_utf8_char(const unsigned char *s, size_t n)
{
	uint32_t cp;

	return oracle_utf8_decode(s, n, &cp);
}

/*
 * Is cp a format character (general category Cf in UnicodeData.txt of
 * Unicode 15.1), a C1 control (Cc, U+0080-U+009F) or a line or paragraph
 * separator (Zl U+2028, Zp U+2029)?  Those by-name/ must escape: invisible,
 * and some (the bidirectional controls) reorder the text around them.
 */
static inline bool oracle_is_format(uint32_t cp)
{
	if (cp >= 0x80 && cp <= 0x9f)
		return true; /* C1 controls */
	switch (cp) {
	case 0x2028: /* line separator */
	case 0x2029: /* paragraph separator */
	case 0x00ad: /* soft hyphen */
	case 0x061c: /* arabic letter mark */
	case 0x06dd: case 0x070f: case 0x08e2: case 0x180e:
	case 0xfeff: /* zero width no-break space (BOM) */
	case 0x110bd: case 0x110cd: case 0xe0001:
		return true;
	}
	return (cp >= 0x0600 && cp <= 0x0605) || (cp >= 0x0890 && cp <= 0x0891) ||
	       (cp >= 0x200b && cp <= 0x200f) || /* zero width space ... RLM */
	       (cp >= 0x202a && cp <= 0x202e) || /* LRE ... RLO */
	       (cp >= 0x2060 && cp <= 0x2064) || /* word joiner ... invisible plus */
	       (cp >= 0x2066 && cp <= 0x206f) || /* LRI ... nominal digit shapes */
	       (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0x13430 && cp <= 0x1343f) ||
	       (cp >= 0x1bca0 && cp <= 0x1bca3) || (cp >= 0x1d173 && cp <= 0x1d17a) ||
	       (cp >= 0xe0020 && cp <= 0xe007f);  /* tags */
}

#endif
