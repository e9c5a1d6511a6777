/*
 * config.c - option values, the token and the secret_dir folder; see config.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest token file read. */
#define TOKEN_FILE_MAX 65536

/* Parse a decimal (or, with base 8, octal) number from min to max into *out. */
static enum err_kind parse_num(const char *name, const char *s, int base, unsigned long min,
			       unsigned long max, unsigned long *out, struct err *e)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		goto bad;
	v = strtoul(s, &end, base);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = v;
	return ERR_OK;
bad:
	return err_set(e, ERR_CONFIG, "%s must be a whole %snumber from %lu to %lu, not '%s'",
		       name, base == 8 ? "octal " : "", min, max, s ? s : "");
}

void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->secret_dir_fd = -1;
}

/*
 * The offset of the first byte of s[0..len) that does not begin a printable
 * UTF-8 character (a control character, C0, DEL or C1; a stray, overlong or
 * truncated sequence; a surrogate or a code point past U+10FFFF), or len
 * when there is none.
 */
static size_t unprintable_at(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned long cp = s[i], min;
		size_t more;

		if (cp < 0x80) {
			if (cp < 0x20 || cp == 0x7f)
				return i;
			i++;
			continue;
		}
		if (cp >= 0xc2 && cp <= 0xdf) {
			more = 1, cp &= 0x1f, min = 0x80;
		} else if (cp >= 0xe0 && cp <= 0xef) {
			more = 2, cp &= 0x0f, min = 0x800;
		} else if (cp >= 0xf0 && cp <= 0xf4) {
			more = 3, cp &= 0x07, min = 0x10000;
		} else {
			return i;
		}
		if (len - i <= more)
			return i;
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
			return i;
		i += more + 1;
	}
	return len;
}

/*
 * The options of -o manage: refused without it; with it, client_id checked
 * (or defaulted) and secret_dir non-empty.
 */
static enum err_kind validate_manage(struct config *c, struct err *e)
{
	const char *alone = c->s_new_token_days ? "new_token_days" : c->client_id ? "client_id" :
			    c->secret_dir ? "secret_dir" : NULL;
	size_t len, bad;

	if (!c->manage) {
		if (alone)
			return err_set(e, ERR_CONFIG, "%s needs -o manage: it only concerns tokens "
				       "made through the mount", alone);
		return ERR_OK;
	}
	if (c->secret_dir && !*c->secret_dir)
		return err_set(e, ERR_CONFIG, "secret_dir is empty; give a folder only you can "
			       "read: -o secret_dir=DIR");
	if (!c->client_id) {
		c->client_id = strdup(CONFIG_DEFAULT_CLIENT_ID);
		return c->client_id ? ERR_OK : err_set(e, ERR_NOMEM, "out of memory");
	}
	len = strlen(c->client_id);
	if (len == 0)
		return err_set(e, ERR_CONFIG, "client_id must not be empty (leave it out for '%s')",
			       CONFIG_DEFAULT_CLIENT_ID);
	if (len > CONFIG_CLIENT_ID_MAX)
		return err_set(e, ERR_CONFIG, "client_id is %zu bytes long; at most %d are allowed",
			       len, CONFIG_CLIENT_ID_MAX);
	bad = unprintable_at((const unsigned char *)c->client_id, len);
	if (bad < len)
		return err_set(e, ERR_CONFIG, "client_id must be printable UTF-8 text; byte %zu is a "
			       "control character or not valid UTF-8", bad + 1);
	return ERR_OK;
}

enum err_kind config_validate(struct config *c, struct err *e)
{
	unsigned long v;

	c->cache_ttl = CONFIG_DEFAULT_TTL;
	c->timeout = CONFIG_DEFAULT_TIMEOUT;
	c->connect_timeout = CONFIG_DEFAULT_CONNECT_TIMEOUT;
	c->max_response = CONFIG_DEFAULT_MAX_RESPONSE;
	c->expiring_days = CONFIG_DEFAULT_EXPIRING_DAYS;
	c->refresh_wait = CONFIG_DEFAULT_REFRESH_WAIT;
	c->new_token_days = CONFIG_DEFAULT_NEW_TOKEN_DAYS;
	c->uid = getuid();
	c->gid = getgid();
	c->umask = 0;
	if ((c->s_cache_ttl &&
	     parse_num("cache_ttl", c->s_cache_ttl, 10, 0, 31536000, &c->cache_ttl, e)) ||
	    (c->s_timeout && parse_num("timeout", c->s_timeout, 10, 1, 3600, &c->timeout, e)) ||
	    (c->s_connect_timeout && parse_num("connect_timeout", c->s_connect_timeout, 10, 1, 3600,
					       &c->connect_timeout, e)) ||
	    (c->s_max_response && parse_num("max_response", c->s_max_response, 10, 2, 1ul << 31,
					    &c->max_response, e)) ||
	    (c->s_expiring_days && parse_num("expiring_days", c->s_expiring_days, 10, 0, 3650,
					     &c->expiring_days, e)) ||
	    (c->s_refresh_wait && parse_num("refresh_wait", c->s_refresh_wait, 10, 0, 3600,
					    &c->refresh_wait, e)) ||
	    (c->s_new_token_days && parse_num("new_token_days", c->s_new_token_days, 10, 1,
					      CONFIG_NEW_TOKEN_DAYS_MAX, &c->new_token_days, e)))
		return e->kind;
	if (c->s_uid) {
		if (parse_num("uid", c->s_uid, 10, 0, UINT_MAX - 1, &v, e))
			return e->kind;
		c->uid = (uid_t)v;
	}
	if (c->s_gid) {
		if (parse_num("gid", c->s_gid, 10, 0, UINT_MAX - 1, &v, e))
			return e->kind;
		c->gid = (gid_t)v;
	}
	if (c->s_umask) {
		if (parse_num("umask", c->s_umask, 8, 0, 0777, &v, e))
			return e->kind;
		c->umask = (mode_t)v;
	}
	return validate_manage(c, e);
}

/* Trim surrounding whitespace of s in place and check what remains. */
static enum err_kind check_token(char *s, const char *origin, struct err *e)
{
	size_t len = strlen(s), start = 0;

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
			   s[len - 1] == '\r'))
		s[--len] = '\0';
	while (s[start] == ' ' || s[start] == '\t' || s[start] == '\n' || s[start] == '\r')
		start++;
	memmove(s, s + start, len - start + 1);
	len -= start;
	/* The move left the token's last bytes behind its new end. */
	explicit_bzero(s + len + 1, start);
	if (len == 0)
		return err_set(e, ERR_CONFIG, "the token in %s is empty", origin);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return err_set(e, ERR_CONFIG, "the token in %s contains a space, a line break "
				       "or a non-ASCII byte at position %zu; a token is one word",
				       origin, i + 1);
	return ERR_OK;
}

/* Expand a leading "~/" with $HOME into a malloc'd path. */
static char *expand_home(const char *path)
{
	const char *home = getenv("HOME");
	char *out;

	if (strncmp(path, "~/", 2) != 0 || !home)
		return strdup(path);
	out = malloc(strlen(home) + strlen(path));
	if (out)
		sprintf(out, "%s%s", home, path + 1);
	return out;
}

/* What a file of mode m is, for a message: "a FIFO", "a directory", ... */
static const char *file_kind(mode_t m)
{
	return S_ISREG(m) ? "a regular file" : S_ISLNK(m) ? "a symbolic link" :
	       S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" :
	       S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" :
	       S_ISDIR(m) ? "a directory" : "a special file";
}

/* Refuse a token file that is not a regular file, saying what it is. */
static enum err_kind not_regular(const char *path, mode_t m, struct err *e)
{
	return err_set(e, ERR_CONFIG, "token file %s is %s, not a regular file", path,
		       file_kind(m));
}

/*
 * Open the token file without ever blocking: O_NONBLOCK, so that a FIFO
 * nobody writes to cannot hang the start or the SIGHUP thread in open().
 * The descriptor is then checked to be a regular file (a symlink to one is
 * fine: that is how container secrets are mounted).  Returns the descriptor
 * with *st filled, or -1 with ERR_CONFIG in *e.
 */
static int open_token_file(const char *path, struct stat *st, struct err *e)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		int saved = errno;

		/* A socket cannot be opened (ENXIO): say what it is rather than why. */
		if (stat(path, st) == 0 && !S_ISREG(st->st_mode))
			not_regular(path, st->st_mode, e);
		else
			err_set(e, ERR_CONFIG, "cannot open token file %s: %s", path,
				strerror(saved));
		return -1;
	}
	if (fstat(fd, st) != 0)
		err_set(e, ERR_CONFIG, "cannot stat token file %s: %s", path, strerror(errno));
	else if (!S_ISREG(st->st_mode))
		not_regular(path, st->st_mode, e);
	else
		return fd;
	close(fd);
	return -1;
}

static enum err_kind read_token_file(struct config *c, struct err *e)
{
	char *path = expand_home(c->token_file), *buf = NULL;
	enum err_kind rc = ERR_CONFIG;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd = -1;

	if (!path)
		return err_set(e, ERR_NOMEM, "out of memory");
	fd = open_token_file(path, &st, e);
	if (fd < 0)
		goto out;
	if (st.st_mode & 077) {
		err_set(e, ERR_CONFIG, "token file %s is accessible by group or others (mode %04o); "
			"protect it with: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		err_set(e, ERR_CONFIG, "token file %s belongs to uid %u, not to you (uid %u) or root",
			path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	buf = malloc(TOKEN_FILE_MAX + 1);
	if (!buf) {
		rc = err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	while (len <= TOKEN_FILE_MAX &&
	       (n = read(fd, buf + len, TOKEN_FILE_MAX + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, ERR_CONFIG, "cannot read token file %s: %s", path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (len > TOKEN_FILE_MAX) {
		err_set(e, ERR_CONFIG, "token file %s is larger than %d bytes", path, TOKEN_FILE_MAX);
		goto out;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		err_set(e, ERR_CONFIG, "token file %s contains a NUL byte", path);
		goto out;
	}
	rc = check_token(buf, path, e);
	if (rc == ERR_OK) {
		c->token = buf;
		buf = NULL;
	}
out:
	if (buf) {
		explicit_bzero(buf, TOKEN_FILE_MAX + 1);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

enum err_kind config_load_token(struct config *c, struct err *e)
{
	char *env;
	enum err_kind rc;

	if (c->token_file)
		return read_token_file(c, e);
	env = getenv("SYNERGY_TOKEN");
	if (!env)
		return err_set(e, ERR_CONFIG, "no token: give -o token_file=PATH (a file only you can "
			       "read) or set the environment variable SYNERGY_TOKEN");
	c->token = strdup(env);
	/* Wipe the value where the environment keeps it, then drop the variable. */
	explicit_bzero(env, strlen(env));
	unsetenv("SYNERGY_TOKEN");
	if (!c->token)
		return err_set(e, ERR_NOMEM, "out of memory");
	rc = check_token(c->token, "SYNERGY_TOKEN", e);
	return rc;
}

/* Say why secret_dir at path (expanded) could not be opened: open set errno to err. */
static enum err_kind unopened_dir(const char *path, int err, struct err *e)
{
	struct stat st;

	if (err == ENOENT)
		return err_set(e, ERR_CONFIG, "secret_dir %s does not exist; create it with: "
			       "mkdir -m 700 %s", path, path);
	if ((err == ELOOP || err == ENOTDIR) && lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return err_set(e, ERR_CONFIG, "secret_dir %s is a symbolic link; give the "
				       "folder it points to instead", path);
		if (!S_ISDIR(st.st_mode))
			return err_set(e, ERR_CONFIG, "secret_dir %s is %s, not a folder; create "
				       "one with: mkdir -m 700 DIR", path, file_kind(st.st_mode));
	}
	return err_set(e, ERR_CONFIG, "cannot open secret_dir %s: %s", path, strerror(err));
}

enum err_kind config_open_secret_dir(struct config *c, struct err *e)
{
	enum err_kind rc = ERR_CONFIG;
	struct stat st;
	char *path;
	size_t len;
	int fd = -1;

	if (!c->secret_dir)
		return ERR_OK;
	path = expand_home(c->secret_dir);
	if (!path)
		return err_set(e, ERR_NOMEM, "out of memory");
	/* "dir/" would follow a symlink named dir: O_NOFOLLOW must see the last name. */
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		unopened_dir(path, errno, e);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		err_set(e, ERR_CONFIG, "cannot stat secret_dir %s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_uid != geteuid()) {
		err_set(e, ERR_CONFIG, "secret_dir %s belongs to uid %u, not to you (uid %u); give "
			"a folder of your own, or: chown %u %s", path, (unsigned)st.st_uid,
			(unsigned)geteuid(), (unsigned)geteuid(), path);
		goto out;
	}
	if (st.st_mode & 077) {
		err_set(e, ERR_CONFIG, "secret_dir %s is accessible by group or others (mode %04o); "
			"protect it with: chmod 700 %s", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	c->secret_dir_fd = fd;
	fd = -1;
	rc = ERR_OK;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

void config_drop_token(struct config *c)
{
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	c->token = NULL;
}

void config_free(struct config *c)
{
	config_drop_token(c);
	free(c->url);
	free(c->token_file);
	free(c->cacert);
	free(c->s_cache_ttl);
	free(c->s_timeout);
	free(c->s_connect_timeout);
	free(c->s_max_response);
	free(c->s_uid);
	free(c->s_gid);
	free(c->s_umask);
	free(c->s_expiring_days);
	free(c->s_refresh_wait);
	free(c->s_new_token_days);
	free(c->client_id);
	free(c->secret_dir);
	if (c->secret_dir_fd != -1)
		close(c->secret_dir_fd);
	c->secret_dir_fd = -1;
}
