/*
 * test_secret_dir.c - writing a secret into a folder (src/secret_dir.c):
 * the bytes and a newline, mode 0600 whatever the umask, an existing name
 * or a symlink there left alone, bad names refused, and a write cut short
 * (RLIMIT_FSIZE) leaving no file behind.  The secret never shows in a message.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "secret_dir.h"

static const char secret[] = "s3cr3t-T0KEN";

/* A scratch folder, its descriptor, and paths in it. */
struct scratch {
	char base[64];
	char path[128];
	int fd;
};

static int scratch_open(struct scratch *s)
{
	snprintf(s->base, sizeof(s->base), "/tmp/synergyfs-test-secret-XXXXXX");
	if (!mkdtemp(s->base))
		return -1;
	s->fd = open(s->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return s->fd;
}

static const char *at(struct scratch *s, const char *name)
{
	snprintf(s->path, sizeof(s->path), "%s/%s", s->base, name);
	return s->path;
}

/* Remove the scratch folder, whose files are names (NULL-ended). */
static void scratch_close(struct scratch *s, const char *const *names)
{
	for (; *names; names++)
		unlink(at(s, *names));
	close(s->fd);
	CHECK(rmdir(s->base) == 0);
}

/* The contents of the file at path, malloc'd, its size in *n; NULL if it cannot be read. */
static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	buf = malloc((size_t)size + 1);
	*n = buf ? fread(buf, 1, (size_t)size, f) : 0;
	fclose(f);
	return buf;
}

/* How many entries besides . and .. the folder at path has; -1 if it cannot be read. */
static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

TEST(writes_secret_and_newline_0600)
{
	struct scratch s;
	struct stat st;
	struct err e;
	mode_t old;
	size_t n = 0;
	char *got;

	if (scratch_open(&s) < 0) {
		CHECK(!"scratch folder");
		return;
	}
	old = umask(0);
	CHECK_EQ_INT(secret_dir_write(s.fd, "ci-runner", secret, strlen(secret), &e), ERR_OK);
	umask(old);
	CHECK(lstat(at(&s, "ci-runner"), &st) == 0 && S_ISREG(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 07777, 0600);
	CHECK_EQ_INT(st.st_uid, geteuid());
	got = slurp(s.path, &n);
	CHECK_EQ_MEM(got, n, "s3cr3t-T0KEN\n", strlen(secret) + 1);
	free(got);

	/* A strict umask changes nothing either; an empty secret is a lone newline. */
	old = umask(0777);
	CHECK_EQ_INT(secret_dir_write(s.fd, "empty", "", 0, &e), ERR_OK);
	umask(old);
	CHECK(stat(at(&s, "empty"), &st) == 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0600);
	got = slurp(s.path, &n);
	CHECK_EQ_MEM(got, n, "\n", 1);
	free(got);
	scratch_close(&s, (const char *const[]){ "ci-runner", "empty", NULL });
}

TEST(writes_large_secret)
{
	size_t len = 3u << 20, n = 0;
	char *big = malloc(len), *got;
	struct scratch s;
	struct err e;

	if (!big || scratch_open(&s) < 0) {
		CHECK(!"set-up");
		free(big);
		return;
	}
	for (size_t i = 0; i < len; i++)
		big[i] = (char)('a' + i % 26);
	CHECK_EQ_INT(secret_dir_write(s.fd, "big", big, len, &e), ERR_OK);
	got = slurp(at(&s, "big"), &n);
	CHECK_EQ_INT(n, len + 1);
	CHECK(got && n == len + 1 && memcmp(got, big, len) == 0 && got[len] == '\n');
	free(got);
	free(big);
	scratch_close(&s, (const char *const[]){ "big", NULL });
}

TEST(existing_name_kept)
{
	struct scratch s;
	struct err e;
	size_t n = 0;
	char *got;

	if (scratch_open(&s) < 0) {
		CHECK(!"scratch folder");
		return;
	}
	CHECK_EQ_INT(secret_dir_write(s.fd, "t", "first", 5, &e), ERR_OK);
	CHECK_EQ_INT(secret_dir_write(s.fd, "t", secret, strlen(secret), &e), ERR_CONFIG);
	CHECK(strstr(e.msg, "t: File exists") != NULL);
	CHECK(strstr(e.msg, secret) == NULL);
	got = slurp(at(&s, "t"), &n);
	CHECK_EQ_MEM(got, n, "first\n", 6);
	free(got);
	scratch_close(&s, (const char *const[]){ "t", NULL });
}

TEST(symlink_not_followed)
{
	struct scratch s;
	struct stat st;
	struct err e;
	char target[128];

	if (scratch_open(&s) < 0) {
		CHECK(!"scratch folder");
		return;
	}
	/* A link to a file that does not exist yet: following it would create it. */
	snprintf(target, sizeof(target), "%s", at(&s, "elsewhere"));
	CHECK(symlink(target, at(&s, "t")) == 0);
	CHECK_EQ_INT(secret_dir_write(s.fd, "t", secret, strlen(secret), &e), ERR_CONFIG);
	CHECK(strstr(e.msg, secret) == NULL);
	CHECK(lstat(target, &st) != 0);
	CHECK(lstat(at(&s, "t"), &st) == 0 && S_ISLNK(st.st_mode));
	/* And one to an existing file: left as it was. */
	CHECK(secret_dir_write(s.fd, "elsewhere", "kept", 4, &e) == ERR_OK);
	CHECK_EQ_INT(secret_dir_write(s.fd, "t", secret, strlen(secret), &e), ERR_CONFIG);
	CHECK(stat(target, &st) == 0 && st.st_size == 5);
	scratch_close(&s, (const char *const[]){ "t", "elsewhere", NULL });
}

TEST(bad_names_refused)
{
	static const char *const bad[] = { "", ".", "..", "a/b", "/t", "t/", "../t" };
	struct scratch s;
	struct err e;

	if (scratch_open(&s) < 0) {
		CHECK(!"scratch folder");
		return;
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(secret_dir_write(s.fd, bad[i], secret, strlen(secret), &e), ERR_CONFIG);
		CHECK(strstr(e.msg, "not a plain file name") != NULL);
	}
	CHECK_EQ_INT(secret_dir_write(s.fd, NULL, secret, strlen(secret), &e), ERR_CONFIG);
	/* Nothing was written: the folder is empty, and nothing named t is above it. */
	CHECK_EQ_INT(entries(s.base), 0);
	CHECK(access("/tmp/t", F_OK) != 0);
	/* A descriptor that is no folder. */
	CHECK_EQ_INT(secret_dir_write(-1, "t", secret, strlen(secret), &e), ERR_CONFIG);
	CHECK(strstr(e.msg, "cannot create secret file t") != NULL);
	scratch_close(&s, (const char *const[]){ NULL });
}

TEST(failed_write_leaves_nothing)
{
	struct rlimit old, small;
	struct scratch s;
	struct err e;
	char buf[4096];

	if (scratch_open(&s) < 0 || getrlimit(RLIMIT_FSIZE, &old) != 0) {
		CHECK(!"set-up");
		return;
	}
	memset(buf, 'x', sizeof(buf));
	/* The file may grow to 100 bytes: the first write is short, the next fails (EFBIG). */
	signal(SIGXFSZ, SIG_IGN);
	small = old;
	small.rlim_cur = 100;
	CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
	CHECK_EQ_INT(secret_dir_write(s.fd, "t", buf, sizeof(buf), &e), ERR_CONFIG);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK(strstr(e.msg, "cannot write secret file t: File too large") != NULL);
	CHECK(access(at(&s, "t"), F_OK) != 0);
	scratch_close(&s, (const char *const[]){ NULL });
}

static const struct check_test tests[] = {
	TEST_CASE(writes_secret_and_newline_0600),
	TEST_CASE(writes_large_secret),
	TEST_CASE(existing_name_kept),
	TEST_CASE(symlink_not_followed),
	TEST_CASE(bad_names_refused),
	TEST_CASE(failed_write_leaves_nothing),
};

CHECK_MAIN(tests)
