/*
 * fuse_version.h - the libfuse API the FUSE layer is written against,
 * and its header: every file that calls libfuse includes this one instead
 * of <fuse_lowlevel.h>, so that all of them agree on the version.
 *
 * Owns: FUSE_USE_VERSION.
 * Must not touch: anything that calls libfuse (fs.c, inval.c, main.c do).
 */
#ifndef SYNERGYFS_FUSE_VERSION_H
#define SYNERGYFS_FUSE_VERSION_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>

#endif
