/*
 * test_config.c - the options of -o manage (new_token_days, client_id,
 * secret_dir: their values and their need of manage) and opening secret_dir:
 * a folder of the caller's with no group or other bits is taken; a file, a
 * symlink, a missing path, mode 0750 and someone else's folder are refused
 * with a message that says what to do.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

/* A config with manage as given and one option set (name NULL: none); validated into *e. */
static enum err_kind validate(struct config *c, int manage, const char *name, const char *value,
			      struct err *e)
{
	config_init(c);
	c->manage = manage;
	if (name && strcmp(name, "new_token_days") == 0)
		c->s_new_token_days = strdup(value);
	else if (name && strcmp(name, "client_id") == 0)
		c->client_id = strdup(value);
	else if (name && strcmp(name, "secret_dir") == 0)
		c->secret_dir = strdup(value);
	err_clear(e);
	return config_validate(c, e);
}

/* Whether msg holds every one of the NULL-ended words. */
static int says(const char *msg, ...)
{
	va_list ap;
	const char *w;
	int all = 1;

	va_start(ap, msg);
	while ((w = va_arg(ap, const char *)))
		all &= strstr(msg, w) != NULL;
	va_end(ap);
	if (!all)
		printf("# message: %s\n", msg);
	return all;
}

TEST(new_token_days_range)
{
	static const struct { const char *s; int ok; unsigned long v; } cases[] = {
		{ "0", 0, 0 }, { "1", 1, 1 }, { "180", 1, 180 }, { "181", 0, 0 },
		{ "abc", 0, 0 }, { "", 0, 0 }, { "-1", 0, 0 }, { "30x", 0, 0 },
	};
	struct config c;
	struct err e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum err_kind k = validate(&c, 1, "new_token_days", cases[i].s, &e);

		CHECK_EQ_INT(k, cases[i].ok ? ERR_OK : ERR_CONFIG);
		if (cases[i].ok)
			CHECK_EQ_INT(c.new_token_days, cases[i].v);
		else
			CHECK(says(e.msg, "new_token_days", "from 1 to 180", NULL));
		config_free(&c);
	}
	CHECK_EQ_INT(validate(&c, 1, NULL, NULL, &e), ERR_OK);
	CHECK_EQ_INT(c.new_token_days, CONFIG_DEFAULT_NEW_TOKEN_DAYS);
	CHECK_EQ_INT(c.new_token_days, 30);
	config_free(&c);
	CHECK_EQ_INT(validate(&c, 0, NULL, NULL, &e), ERR_OK);
	CHECK_EQ_INT(c.new_token_days, 30);
	config_free(&c);
}

TEST(client_id_values)
{
	static const struct { const char *s; int ok; } cases[] = {
		{ "ci runner", 1 },
		{ "caf\xc3\xa9 \xf0\x9f\x98\x80", 1 },  /* é and an emoji */
		{ "", 0 },
		{ "a\tb", 0 }, { "a\nb", 0 }, { "a\x7f", 0 }, { "\x1b[31m", 0 },
		{ "a\xc2\x85", 0 },                     /* U+0085, a C1 control */
		{ "\xff", 0 }, { "caf\xc3", 0 },        /* not UTF-8; cut short */
		{ "\xc0\xaf", 0 }, { "\xed\xa0\x80", 0 }, /* overlong; a surrogate */
		{ "\xf4\x90\x80\x80", 0 },              /* past U+10FFFF */
	};
	char longest[CONFIG_CLIENT_ID_MAX + 2];
	struct config c;
	struct err e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ_INT(validate(&c, 1, "client_id", cases[i].s, &e),
			     cases[i].ok ? ERR_OK : ERR_CONFIG);
		if (cases[i].ok)
			CHECK_EQ_STR(c.client_id, cases[i].s);
		else
			CHECK(says(e.msg, "client_id", NULL));
		config_free(&c);
	}
	memset(longest, 'x', CONFIG_CLIENT_ID_MAX);
	longest[CONFIG_CLIENT_ID_MAX] = '\0';
	CHECK_EQ_INT(validate(&c, 1, "client_id", longest, &e), ERR_OK);
	config_free(&c);
	longest[CONFIG_CLIENT_ID_MAX] = 'x';
	longest[CONFIG_CLIENT_ID_MAX + 1] = '\0';
	CHECK_EQ_INT(validate(&c, 1, "client_id", longest, &e), ERR_CONFIG);
	CHECK(says(e.msg, "client_id", "129 bytes", "128", NULL));
	config_free(&c);

	/* Absent: the default with manage (twice: the same), nothing without. */
	CHECK_EQ_INT(validate(&c, 1, NULL, NULL, &e), ERR_OK);
	CHECK_EQ_STR(c.client_id, CONFIG_DEFAULT_CLIENT_ID);
	CHECK_EQ_STR(c.client_id, "synergyfs");
	CHECK_EQ_INT(config_validate(&c, &e), ERR_OK);
	CHECK_EQ_STR(c.client_id, "synergyfs");
	config_free(&c);
	CHECK_EQ_INT(validate(&c, 0, NULL, NULL, &e), ERR_OK);
	CHECK(c.client_id == NULL);
	config_free(&c);
}

TEST(options_need_manage)
{
	static const char *const names[] = { "new_token_days", "client_id", "secret_dir" };
	struct config c;
	struct err e;
	char want[64];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		CHECK_EQ_INT(validate(&c, 0, names[i], "30", &e), ERR_CONFIG);
		snprintf(want, sizeof(want), "%s needs -o manage", names[i]);
		CHECK(says(e.msg, want, NULL));
		config_free(&c);
		CHECK_EQ_INT(validate(&c, 1, names[i], "30", &e), ERR_OK);
		config_free(&c);
	}
	CHECK_EQ_INT(validate(&c, 1, "secret_dir", "", &e), ERR_CONFIG);
	CHECK(says(e.msg, "secret_dir", "empty", NULL));
	config_free(&c);
}

/* A scratch folder for the secret_dir tests, and paths in it. */
struct scratch {
	char base[64];
	char path[128];
};

static const char *at(struct scratch *s, const char *name)
{
	snprintf(s->path, sizeof(s->path), "%s/%s", s->base, name);
	return s->path;
}

/* Open secret_dir=dir as validate and config_open_secret_dir would; the result kind. */
static enum err_kind open_dir(struct config *c, const char *dir, struct err *e)
{
	enum err_kind k = validate(c, 1, "secret_dir", dir, e);

	return k ? k : config_open_secret_dir(c, e);
}

TEST(secret_dir_checks)
{
	struct scratch s = { .base = "/tmp/synergyfs-test-config-XXXXXX" };
	struct config c;
	struct stat st;
	struct err e;
	int fd;

	if (!mkdtemp(s.base)) {
		CHECK(!"mkdtemp");
		return;
	}
	CHECK(mkdir(at(&s, "d700"), 0700) == 0 && chmod(s.path, 0700) == 0);
	CHECK(mkdir(at(&s, "d750"), 0700) == 0 && chmod(s.path, 0750) == 0);
	CHECK(mkdir(at(&s, "d701"), 0700) == 0 && chmod(s.path, 0701) == 0);
	CHECK(symlink("d700", at(&s, "link")) == 0);
	fd = open(at(&s, "file"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);

	/* Not given: nothing opened. */
	CHECK_EQ_INT(validate(&c, 1, NULL, NULL, &e), ERR_OK);
	CHECK_EQ_INT(config_open_secret_dir(&c, &e), ERR_OK);
	CHECK_EQ_INT(c.secret_dir_fd, -1);
	config_free(&c);

	/* 0700 and the caller's: opened, and closed by config_free. */
	CHECK_EQ_INT(open_dir(&c, at(&s, "d700"), &e), ERR_OK);
	fd = c.secret_dir_fd;
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	config_free(&c);
	CHECK_EQ_INT(c.secret_dir_fd, -1);
	CHECK(fcntl(fd, F_GETFD) == -1);
	/* With a trailing slash, and through ~ ($HOME). */
	CHECK_EQ_INT(open_dir(&c, at(&s, "d700/"), &e), ERR_OK);
	config_free(&c);
	CHECK(setenv("HOME", s.base, 1) == 0);
	CHECK_EQ_INT(open_dir(&c, "~/d700", &e), ERR_OK);
	CHECK(c.secret_dir_fd >= 0);
	config_free(&c);

	CHECK_EQ_INT(open_dir(&c, at(&s, "d750"), &e), ERR_CONFIG);
	CHECK(says(e.msg, s.path, "mode 0750", "chmod 700", NULL));
	CHECK_EQ_INT(c.secret_dir_fd, -1);
	config_free(&c);
	CHECK_EQ_INT(open_dir(&c, at(&s, "d701"), &e), ERR_CONFIG);
	CHECK(says(e.msg, "mode 0701", "chmod 700", NULL));
	config_free(&c);
	CHECK_EQ_INT(open_dir(&c, at(&s, "file"), &e), ERR_CONFIG);
	CHECK(says(e.msg, s.path, "a regular file, not a folder", NULL));
	config_free(&c);
	CHECK_EQ_INT(open_dir(&c, at(&s, "link"), &e), ERR_CONFIG);
	CHECK(says(e.msg, s.path, "symbolic link", NULL));
	config_free(&c);
	CHECK_EQ_INT(open_dir(&c, at(&s, "link/"), &e), ERR_CONFIG);
	CHECK(says(e.msg, "symbolic link", NULL));
	config_free(&c);
	CHECK_EQ_INT(open_dir(&c, at(&s, "missing"), &e), ERR_CONFIG);
	CHECK(says(e.msg, s.path, "does not exist", "mkdir -m 700", NULL));
	CHECK_EQ_INT(c.secret_dir_fd, -1);
	config_free(&c);

	/* Someone else's folder (needs root to give it away). */
	if (geteuid() == 0) {
		CHECK(chown(at(&s, "d700"), 65534, 65534) == 0);
		CHECK_EQ_INT(open_dir(&c, s.path, &e), ERR_CONFIG);
		CHECK(says(e.msg, s.path, "belongs to uid 65534", "uid 0", NULL));
		CHECK_EQ_INT(c.secret_dir_fd, -1);
		config_free(&c);
	} else {
		printf("# not root: the someone-else's-folder case is skipped\n");
	}

	unlink(at(&s, "link"));
	unlink(at(&s, "file"));
	rmdir(at(&s, "d700"));
	rmdir(at(&s, "d750"));
	rmdir(at(&s, "d701"));
	CHECK(rmdir(s.base) == 0);
}

static const struct check_test tests[] = {
	TEST_CASE(new_token_days_range),
	TEST_CASE(client_id_values),
	TEST_CASE(options_need_manage),
	TEST_CASE(secret_dir_checks),
};

CHECK_MAIN(tests)
