/*
 * refresh.h - synergyfs --refresh MOUNTPOINT, the client side of
 * SYNERGYFS_IOC_REFRESH (ioctl.h): a request to a running mount, which
 * needs no URL, no token and no libcurl.
 *
 * Owns: the command line of --refresh and its messages.
 * Must not touch: the daemon's state (it only asks the daemon).
 */
#ifndef SYNERGYFS_REFRESH_H
#define SYNERGYFS_REFRESH_H

/*
 * If argv asks for --refresh (wherever it stands, with exactly one other
 * argument, the mount point), do it: returns the exit code, 0 once the
 * new list is served, 1 with one line on stderr if not.  Returns -1 if
 * argv does not ask for a refresh.
 */
int refresh_command(int argc, char *argv[], const char *prog);

#endif
