/*
 * escape.h - turning a token's Name into a safe, reversible directory entry
 * name for by-name/, in the style of udev's /dev/disk/by-label.
 *
 * The escaped form never contains '/', '\' (except as the start of an
 * escape), '~', control bytes or invalid UTF-8; each of those bytes is
 * written as "\xNN".  Invisible format characters (Unicode category Cf:
 * the bidirectional controls, zero-width spaces and joiners, U+FEFF, ...),
 * which can make one name look like another, are written as their UTF-8
 * bytes escaped so: U+202E becomes "\xe2\x80\xae".  The names "." and
 * ".." become "\x2e" and "\x2e\x2e".
 * Because '~' is always escaped, a "~<ID>" suffix can be added to tell
 * tokens apart and can never be confused with part of a name.
 *
 * Owns: the mapping from a Name to an entry name and back.
 * Must not touch: which entry names a snapshot holds (snapshot.h builds the table).
 */
#ifndef SYNERGYFS_ESCAPE_H
#define SYNERGYFS_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

/* The longest entry name Linux accepts, in bytes. */
#define ESC_NAME_MAX 255

/*
 * Escape the len bytes of name into out, which must hold at least
 * ESC_BUF_SIZE(len) bytes; out is NUL-terminated.  Returns the escaped
 * length.
 */
#define ESC_BUF_SIZE(len) (4 * (len) + 9)
size_t esc_name(const char *name, size_t len, char *out);

/*
 * Make the final entry name from an escaped name (as esc_name wrote it):
 * the escaped name itself, or "<escaped>~<id>" when with_suffix is set, the
 * escaped name is empty, or the result would be longer than ESC_NAME_MAX.
 * A long name is cut between characters (an escaped one counts as one) and
 * lone escapes so that name and suffix fit.  out must hold ESC_NAME_MAX + 1 bytes.  Returns the length.
 */
size_t esc_entry(const char *escaped, size_t len, int64_t id, int with_suffix,
		 char *out);

/*
 * Length of the valid UTF-8 character at s (n bytes available, n > 0), or
 * 0 if the bytes there are not valid UTF-8.
 */
size_t esc_utf8_len(const unsigned char *s, size_t n);

/*
 * Undo esc_name on s (a name, without any "~<id>" suffix) into out, which
 * must hold strlen(s) + 1 bytes.  Returns the decoded length.
 */
size_t esc_unescape(const char *s, char *out);

#endif
