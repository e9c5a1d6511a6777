/*
 * ioctl.h - the requests a synergyfs mount answers through ioctl(2) on its
 * root folder: what `synergyfs --refresh MOUNTPOINT` sends, and fs.c
 * answers.  The mount is read-only, so a refresh on demand cannot be a
 * write to a file.
 *
 * Owns: the request numbers shared by the command and the daemon.
 * Must not touch: how a refresh is made (cache.h).
 */
#ifndef SYNERGYFS_IOCTL_H
#define SYNERGYFS_IOCTL_H

#include <sys/ioctl.h>

/*
 * Fetch the list now and return once it is served and the kernel told
 * of what changed; fails with the fetch's errno (EACCES for a rejected
 * token, ETIMEDOUT, ECONNREFUSED, ...).  Only the mounting user and root
 * may ask (EACCES for others).  No argument.
 */
#define SYNERGYFS_IOC_REFRESH _IO('S', 0x52)

#endif
