/*
 * notify.h - telling systemd (Type=notify services) that the mount is in
 * place and when it goes away.  Built on sd_notify() when libsystemd was
 * found at build time; otherwise these do nothing.
 *
 * Owns: what systemd is told of the daemon's state.
 * Must not touch: the mount itself, the kernel's caches (inval.h).
 */
#ifndef SYNERGYFS_NOTIFY_H
#define SYNERGYFS_NOTIFY_H

/* The mount is in place: READY=1 (when NOTIFY_SOCKET is set). */
void notify_ready(void);

/* The daemon is on its way out: STOPPING=1. */
void notify_stopping(void);

#endif
