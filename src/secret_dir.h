/*
 * secret_dir.h - writing the secret of a new token into the secret_dir
 * folder (-o secret_dir), so that it survives a crash right after.
 *
 * Example: secret_dir_write(fd, "ci-runner", "abc123", 6, &e) leaves the
 * file ci-runner in that folder, mode 0600, holding the 7 bytes "abc123\n",
 * on disk (file and folder fsync'ed) before it returns ERR_OK.
 *
 * Owns: the files it creates in the folder, until it returns.
 * Must not touch: the folder itself (config_open_secret_dir opens and checks
 * it, config_free closes it), the network, the mount, errno as a result.
 */
#ifndef SYNERGYFS_SECRET_DIR_H
#define SYNERGYFS_SECRET_DIR_H

#include <stddef.h>

#include "err.h"

/*
 * Write the len bytes at p and a newline to the file name in the folder
 * dirfd (opened for reading, not O_PATH: it is fsync'ed).  The file is
 * created O_CREAT|O_EXCL|O_NOFOLLOW|O_WRONLY|O_CLOEXEC with mode 0600 and
 * fchmod'ed to 0600 whatever the umask, written with writev (p is never
 * copied; short writes and EINTR are carried on), fsync'ed and closed, and
 * then the folder is fsync'ed.  name must be a plain file name: non-empty,
 * no '/', not "." or "..".  An existing file or symlink at name is never
 * opened, followed or replaced.
 *
 * On failure, a file this call created is unlinked again, and *e says which
 * file and strerror, never the bytes:
 *   ERR_NOMEM   the kernel ran out of memory (ENOMEM);
 *   ERR_CONFIG  everything else: a bad name, the name taken (EEXIST), no
 *               permission, a read-only or full file system (ENOSPC,
 *               EDQUOT), an I/O error.  All are about the local folder the
 *               user chose, not the server; err.h has no closer kind.
 */
enum err_kind secret_dir_write(int dirfd, const char *name, const char *p, size_t len,
			       struct err *e);

#endif
