/*
 * refresh.c - synergyfs --refresh MOUNTPOINT: see refresh.h.
 */
#include "refresh.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ioctl.h"
#include "log.h"

/*
 * synergyfs --refresh MOUNTPOINT: ask the daemon serving MOUNTPOINT to fetch
 * the list now (SYNERGYFS_IOC_REFRESH on its root folder), and wait until the
 * new list is served.  Needs no URL, no token and no libcurl.  Prints one line
 * on stderr if it fails.  Returns an exit code: 0, or 1.
 */
static int refresh_mount(const char *path)
{
	struct stat here, up;
	struct statfs sfs;
	int fd, err = 0;
	bool ours = true;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		ours = err != ENOTDIR;
	} else if (fstatfs(fd, &sfs) != 0 || fstat(fd, &here) != 0 ||
		   fstatat(fd, "..", &up, 0) != 0) {
		err = errno;
	} else if (sfs.f_type != FUSE_SUPER_MAGIC || here.st_dev == up.st_dev) {
		/* Not FUSE, or a folder inside a mount rather than its root. */
		ours = false;
	} else if (ioctl(fd, SYNERGYFS_IOC_REFRESH) != 0) {
		err = errno;
		/* Another FUSE filesystem, which does not know the request. */
		ours = err != ENOTTY && err != EINVAL && err != ENOSYS;
	}
	if (fd >= 0)
		close(fd);
	if (!ours) {
		fprintf(stderr, "synergyfs: %s is not a synergyfs mount\n", path);
		return 1;
	}
	if (err != 0) {
		fprintf(stderr, "synergyfs: refresh of %s failed: %s\n", path, strerror(err));
		return 1;
	}
	return 0;
}

/*
 * The command line of --refresh, wherever it stands: exactly one other
 * argument, the mount point.  Returns -1 if argv does not ask for a refresh,
 * else an exit code.
 */
int refresh_command(int argc, char *argv[], const char *prog)
{
	const char *path = NULL, *extra = NULL;
	bool asked = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--refresh") == 0)
			asked = true;
		else if (!path)
			path = argv[i];
		else if (!extra)
			extra = argv[i];
	}
	if (!asked)
		return -1;
	if (!path || extra) {
		if (extra)
			log_error("unexpected argument '%s' (usage: %s --refresh MOUNTPOINT)",
				  extra, prog);
		else
			log_error("missing mount point (usage: %s --refresh MOUNTPOINT)", prog);
		return 1;
	}
	return refresh_mount(path);
}
