/*
 * notify.c - systemd readiness; see notify.h.
 */
#include "notify.h"

#include "synergyfs-config.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

void notify_ready(void)
{
	sd_notify(0, "READY=1\nSTATUS=mounted");
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}
#else
void notify_ready(void)
{
}

void notify_stopping(void)
{
}
#endif
