/*
 * secret_dir.c - writing a new token's secret to a file; see secret_dir.h.
 */
#include "secret_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The kind of a failed system call's errno err: see secret_dir.h. */
static enum err_kind kind_of(int err)
{
	return err == ENOMEM ? ERR_NOMEM : ERR_CONFIG;
}

/* Write both iovecs fully to fd, carrying on after short writes and EINTR; 0, or an errno. */
static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		size_t done;

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		if (w == 0)
			return EIO;
		done = (size_t)w;
		while (n > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

enum err_kind secret_dir_write(int dirfd, const char *name, const char *p, size_t len,
			       struct err *e)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)p, .iov_len = len },
		{ .iov_base = (void *)"\n", .iov_len = 1 },
	};
	const char *step;
	int fd, err;

	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return err_set(e, ERR_CONFIG, "cannot write a secret to '%s': not a plain file name",
			       name ? name : "");
	fd = openat(dirfd, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC | O_NOCTTY,
		    0600);
	if (fd < 0) {
		err = errno;
		return err_set(e, kind_of(err), "cannot create secret file %s: %s", name,
			       strerror(err));
	}
	step = "set the mode of";
	if (fchmod(fd, 0600) != 0)
		goto fail;
	step = "write";
	err = write_all(fd, iov, 2);
	if (err) {
		errno = err;
		goto fail;
	}
	step = "sync";
	if (fsync(fd) != 0)
		goto fail;
	step = "close";
	err = close(fd);
	fd = -1;
	if (err != 0)
		goto fail;
	step = "sync the folder of";
	if (fsync(dirfd) != 0)
		goto fail;
	return ERR_OK;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	/* Nobody is to find half a secret, nor take a lone file for a saved one. */
	unlinkat(dirfd, name, 0);
	return err_set(e, kind_of(err), "cannot %s secret file %s: %s", step, name, strerror(err));
}
