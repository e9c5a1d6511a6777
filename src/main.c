/*
 * main.c - synergyfs: mount the Personal Access Token list of a 12d
 * Synergy server as a read-only directory tree.
 *
 * This file parses the command line, checks everything that can be checked
 * before mounting (so that mistakes are reported on the terminal with a
 * non-zero exit), wires the modules together and runs the FUSE session.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "cache.h"
#include "config.h"
#include "fs.h"
#include "log.h"
#include "manage.h"
#include "minted.h"
#include "notify.h"
#include "refresh.h"
#include "source.h"
#include "synergyfs-config.h"

enum { EXIT_USAGE = 1, EXIT_MOUNT = 2 };


enum { KEY_HELP, KEY_VERSION, KEY_ALLOW_OTHER, KEY_DEFAULT_PERMISSIONS,
       KEY_NO_DEFAULT_PERMISSIONS };

/* What the command line asked for besides struct config. */
struct cmdline {
	struct config conf;
	int nonopts;      /* positional arguments seen */
	int show_help;
	int show_version;
	int allow_other;
	int default_permissions; /* given, or refused with no_default_permissions (-1) */
	char *mountpoint; /* as given; checked by check_mountpoint() */
	char *extra;      /* the first surplus positional argument */
};

#define OPT(t, f) { t, offsetof(struct cmdline, conf.f), 1 }

static const struct fuse_opt option_spec[] = {
	OPT("token_file=%s", token_file),
	OPT("cache_ttl=%s", s_cache_ttl),
	OPT("timeout=%s", s_timeout),
	OPT("connect_timeout=%s", s_connect_timeout),
	OPT("cacert=%s", cacert),
	OPT("insecure", insecure),
	OPT("max_response=%s", s_max_response),
	OPT("uid=%s", s_uid),
	OPT("gid=%s", s_gid),
	OPT("umask=%s", s_umask),
	OPT("expiring_days=%s", s_expiring_days),
	OPT("refresh_wait=%s", s_refresh_wait),
	OPT("manage", manage),
	OPT("new_token_days=%s", s_new_token_days),
	OPT("client_id=%s", client_id),
	OPT("secret_dir=%s", secret_dir),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("no_default_permissions", KEY_NO_DEFAULT_PERMISSIONS),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [options] URL MOUNTPOINT\n"
	       "       %s --refresh MOUNTPOINT\n"
	       "\n"
	       "Mount the Personal Access Token list of the 12d Synergy server at URL\n"
	       "(http:// or https://, optional port and path prefix) on MOUNTPOINT, read-only.\n"
	       "\n"
	       "    --refresh MOUNTPOINT   have the mount at MOUNTPOINT fetch the list now; exit 0\n"
	       "                           once it is served, 1 with the reason if it fails\n"
	       "\n"
	       "synergyfs options:\n"
	       "    -o token_file=PATH     file holding the bearer token, mode 0600 or stricter\n"
	       "                           (default: the environment variable SYNERGY_TOKEN)\n"
	       "    -o cache_ttl=SECONDS   how long one fetch of the list is served (default %d)\n"
	       "    -o timeout=SECONDS     time limit of a whole request (default %d)\n"
	       "    -o connect_timeout=SECONDS  time limit of connecting (default %d)\n"
	       "    -o refresh_wait=SECONDS  how long an access waits for a due refresh before\n"
	       "                           the cached list is served stale (default %d)\n"
	       "    -o cacert=PATH         extra CA certificates (PEM) for https\n"
	       "    -o insecure            do not verify the server's TLS certificate (unsafe)\n"
	       "    -o max_response=BYTES  largest list accepted (default %u)\n"
	       "    -o expiring_days=N     expiring/ lists tokens expiring within N days (default %d)\n"
	       "    -o uid=N               owner of every file (default: the mounting user)\n"
	       "    -o gid=N               group of every file (default: the mounting group)\n"
	       "    -o umask=OCTAL         permission bits removed from folders and files (default 0)\n"
	       "    -o no_default_permissions  with allow_other, do not let the kernel enforce\n"
	       "                           the modes (default_permissions is on with allow_other)\n"
	       "    -o manage              mkdir new/NAME creates a token, rmdir tokens/ID deletes\n"
	       "                           one (the mounting user and root only)\n"
	       "    -o new_token_days=N    days a created token is valid, 1-180 (default %d)\n"
	       "    -o client_id=NAME      ClientId of created tokens (default %s)\n"
	       "    -o secret_dir=DIR      also write each new secret to DIR/ID (DIR mode 0700)\n"
	       "    -h   --help            print this help\n"
	       "    -V   --version         print versions\n"
	       "\n",
	       prog, prog, CONFIG_DEFAULT_TTL, CONFIG_DEFAULT_TIMEOUT, CONFIG_DEFAULT_CONNECT_TIMEOUT,
	       CONFIG_DEFAULT_REFRESH_WAIT,
	       CONFIG_DEFAULT_MAX_RESPONSE, CONFIG_DEFAULT_EXPIRING_DAYS,
	       CONFIG_DEFAULT_NEW_TOKEN_DAYS, CONFIG_DEFAULT_CLIENT_ID);
	/*
	 * libfuse's fuse_cmdline_help() would list -h and -V a second time:
	 * its other options are written out here, the mount options it knows
	 * come from fuse_lowlevel_help().  doc/synergyfs.1 describes each.
	 */
	printf("FUSE options:\n"
	       "    -f                     stay in the foreground\n"
	       "    -d   -o debug          debug output, with one line per HTTP request\n"
	       "                           (implies -f)\n"
	       "    -s                     single-threaded\n"
	       "    -o clone_fd            a FUSE device descriptor of its own for each thread\n"
	       "    -o max_threads=N       at most N threads serving requests (default 10)\n"
	       "    -o max_idle_threads=N  at most N of them idle (default: no limit)\n");
	fflush(stdout);
	fuse_lowlevel_help();
}

/*
 * Options that fstab lines carry for mount(8), systemd or other tools, and
 * that mean nothing to the filesystem itself: accepted and dropped.
 */
static bool mount_only_option(const char *arg)
{
	static const char *const names[] = {
		"_netdev", "nofail", "auto", "noauto", "user", "users", "nouser", "owner",
		"group", "defaults", "nobootwait",
	};

	if (strncmp(arg, "x-", 2) == 0 || strncmp(arg, "comment=", 8) == 0)
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(arg, names[i]) == 0)
			return true;
	return false;
}

/*
 * Options of earlier versions whose behaviour is now the only one:
 * accepted, so that an old fstab line still mounts, and ignored.
 */
static bool retired_option(const char *arg)
{
	return strcmp(arg, "kernel_cache") == 0;
}

static int option_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cmdline *cl = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		cl->show_help = 1;
		return 0;
	case KEY_VERSION:
		cl->show_version = 1;
		return 0;
	case KEY_ALLOW_OTHER:
		cl->allow_other = 1;
		return 1;
	case KEY_DEFAULT_PERMISSIONS:
		cl->default_permissions = 1;
		return 1;
	case KEY_NO_DEFAULT_PERMISSIONS:
		cl->default_permissions = -1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		cl->nonopts++;
		if (cl->nonopts == 1) {
			cl->conf.url = strdup(arg);
			return cl->conf.url ? 0 : -1;
		}
		if (cl->nonopts == 2) {
			/* Kept from fuse_parse_cmdline, whose check of it exits 1. */
			cl->mountpoint = strdup(arg);
			return cl->mountpoint ? 0 : -1;
		}
		if (!cl->extra)
			cl->extra = strdup(arg);
		return 0;
	case FUSE_OPT_KEY_OPT:
		return mount_only_option(arg) || retired_option(arg) ? 0 : 1;
	default:
		return 1;
	}
}

/* Everything built from the options; torn down in reverse by teardown(). */
struct daemon {
	struct cmdline cl;
	struct fuse_cmdline_opts fopts;
	char *base_url;
	struct api *api;
	struct source source;
	struct cache *cache;
	struct minted *minted;  /* new/'s folders, with -o manage */
	struct manage *manage;  /* with -o manage */
	struct fs *fs;
	struct fuse_session *se;
	char *mount_opts;
	pthread_t signals;      /* takes SIGHUP, SIGINT and SIGTERM */
	pthread_t main_thread;  /* runs the FUSE loop */
	atomic_bool stopping;   /* the signal thread is to return */
	atomic_bool loop_done;  /* the FUSE loop has returned */
};

/*
 * SIGHUP: read the token file again (token rotation without remounting)
 * and fetch the list anew with it, in the background: the kernel is told
 * of what changed once it lands.
 */
static void reload(struct daemon *d)
{
	struct config *c = &d->cl.conf;
	struct err e;

	err_clear(&e);
	if (!c->token_file) {
		log_warn("SIGHUP: the token came from SYNERGY_TOKEN and cannot be read again; "
			 "the list is fetched anew");
		cache_expire(d->cache);
		cache_kick(d->cache);
		return;
	}
	config_drop_token(c);
	if (config_load_token(c, &e) != ERR_OK || api_set_token(d->api, c->token, &e) != ERR_OK) {
		log_error("SIGHUP: keeping the old token: %s", e.msg);
	} else {
		log_info("SIGHUP: token read again from %s; the list will be fetched anew",
			 c->token_file);
	}
	config_drop_token(c);
	/* And the list is fetched again now, with the new token. */
	cache_expire(d->cache);
	cache_kick(d->cache);
}

/* SIGUSR1 only interrupts the FUSE loop's wait, so that it sees the session end. */
static void on_wake(int sig)
{
	(void)sig;
}

/*
 * SIGINT, SIGTERM: end the daemon within a second, whatever is in flight.
 * The request in flight is abandoned, every access waiting for it answers
 * at once, and the FUSE loop is woken until it has seen the end.
 */
static void stop(struct daemon *d, int sig)
{
	struct timespec pause = { 0, 20 * 1000000L };

	log_info("%s: unmounting", sig == SIGINT ? "SIGINT" : "SIGTERM");
	api_abort(d->api);
	cache_close(d->cache);
	fuse_session_exit(d->se);
	while (!atomic_load(&d->loop_done)) {
		pthread_kill(d->main_thread, SIGUSR1);
		nanosleep(&pause, NULL);
	}
}

/* The thread that takes SIGHUP, SIGINT and SIGTERM (blocked in every other thread). */
static void *signal_loop(void *arg)
{
	struct daemon *d = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	while (sigwait(&set, &sig) == 0 && !atomic_load(&d->stopping)) {
		if (sig == SIGHUP) {
			reload(d);
			continue;
		}
		stop(d, sig);
		break;
	}
	return NULL;
}

/* The HTTP requests api has sent, for status. */
static unsigned long count_requests(void *api)
{
	return api_requests(api);
}

/* Check the options and build api, cache and fs.  Returns an exit code, 0 if all is well. */
static int prepare(struct daemon *d, struct fuse_args *args, const char *prog)
{
	struct config *c = &d->cl.conf;
	struct api_config ac;
	char *fsname;
	struct err e;

	err_clear(&e);
	if (d->cl.extra) {
		log_error("unexpected argument '%s' (usage: %s [options] URL MOUNTPOINT)",
			  d->cl.extra, prog);
		return EXIT_USAGE;
	}
	if (!c->url || !d->cl.mountpoint) {
		log_error("%s (usage: %s [options] URL MOUNTPOINT; see --help)",
			  !c->url ? "missing server URL" : "missing mount point", prog);
		return EXIT_USAGE;
	}
	if (config_validate(c, &e) || config_open_secret_dir(c, &e) ||
	    api_normalize_url(c->url, &d->base_url, &e) || config_load_token(c, &e)) {
		log_error("%s", e.msg);
		return EXIT_USAGE;
	}
	if (c->insecure)
		log_warn("insecure: the server's TLS certificate is not verified; anyone on the "
			 "path can read the token");
	if (strncmp(d->base_url, "http://", 7) == 0 && !api_url_is_loopback(d->base_url))
		log_warn("%s is plain http: the token travels in clear text", d->base_url);
	ac = (struct api_config){
		.base_url = d->base_url,
		.token = c->token,
		.timeout_ms = (long)c->timeout * 1000,
		.connect_timeout_ms = (long)c->connect_timeout * 1000,
		.cacert = c->cacert,
		.insecure = c->insecure,
		.max_response = c->max_response,
	};
	d->api = api_new(&ac, &e);
	/* The api holds the one copy now; this one is no longer needed. */
	config_drop_token(c);
	if (!d->api) {
		log_error("%s", e.msg);
		return EXIT_MOUNT;
	}
	d->source.api = d->api;
	d->cache = cache_new((double)c->cache_ttl, source_fetch, &d->source);
	if (!d->cache) {
		log_error("out of memory");
		return EXIT_MOUNT;
	}
	cache_set_wait(d->cache, (double)c->refresh_wait);
	if (c->manage && (!(d->minted = minted_new()) ||
			  !(d->manage = manage_new(&(struct manage_config){
				  .api = d->api,
				  .cache = d->cache,
				  .minted = d->minted,
				  .client_id = c->client_id,
				  .days = (long)c->new_token_days,
				  .secret_dir_fd = c->secret_dir_fd,
			  })))) {
		log_error("out of memory");
		return EXIT_MOUNT;
	}
	d->fs = fs_new(&(struct fs_config){
		.cache = d->cache,
		.url = d->base_url,
		.cache_ttl = c->cache_ttl,
		.expiring_days = (long)c->expiring_days,
		.owner = { c->uid, c->gid, c->umask, c->manage },
		.mounter = getuid(),
		.minted = d->minted,
		.manage = d->manage,
		.requests = count_requests,
		.requests_arg = d->api,
	});
	if (!d->fs) {
		log_error("out of memory");
		return EXIT_MOUNT;
	}
	/*
	 * Mount options, before the user's so that theirs win: the type shows
	 * as fuse.synergyfs, the source as the URL, and reads do not dirty atime.
	 */
	fsname = malloc(strlen(d->base_url) + sizeof("fsname="));
	if (fsname)
		sprintf(fsname, "fsname=%s", d->base_url);
	if (!fsname || fuse_opt_add_opt(&d->mount_opts, "subtype=synergyfs,noatime") ||
	    fuse_opt_add_opt_escaped(&d->mount_opts, fsname) ||
	    fuse_opt_insert_arg(args, 1, "-o") ||
	    fuse_opt_insert_arg(args, 2, d->mount_opts) ||
	    /* Shared with other users: let the kernel enforce the modes. */
	    (d->cl.allow_other && d->cl.default_permissions == 0 &&
	     fuse_opt_add_arg(args, "-odefault_permissions")) ||
	    /*
	     * Read-only for the kernel (MS_RDONLY), after the user's options so
	     * that an `rw` in an fstab line does not win: a write open fails
	     * with EROFS before the daemon hears of it.  -o manage needs mkdir
	     * and rmdir: then the daemon refuses every write open (fs_open).
	     */
	    (!c->manage && fuse_opt_add_arg(args, "-oro"))) {
		free(fsname);
		log_error("out of memory");
		return EXIT_MOUNT;
	}
	free(fsname);
	return 0;
}

/*
 * Block the signals the daemon takes in its own thread (every thread made
 * from now on inherits the mask), and let SIGUSR1 interrupt a wait.
 */
static int take_signals(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake; /* no SA_RESTART: a wait returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigaction(SIGUSR1, &sa, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

/*
 * Check the mount point before mounting, so that a missing one, or a file,
 * is refused with a clear message and the exit code of a failed mount;
 * sets d->fopts.mountpoint to its absolute path.  "/dev/fd/N" (a FUSE device
 * opened by mount.fuse3) is passed on as it is.  Returns an exit code.
 */
static int check_mountpoint(struct daemon *d)
{
	const char *mp = d->cl.mountpoint;
	struct stat st;
	unsigned fd;
	char end;

	if (sscanf(mp, "/dev/fd/%u%c", &fd, &end) == 1) {
		d->fopts.mountpoint = strdup(mp);
	} else {
		d->fopts.mountpoint = realpath(mp, NULL);
		if (!d->fopts.mountpoint || stat(d->fopts.mountpoint, &st) != 0) {
			log_error("mount point '%s': %s", mp, strerror(errno));
			return EXIT_MOUNT;
		}
		if (!S_ISDIR(st.st_mode)) {
			log_error("mount point '%s' is not a folder", mp);
			return EXIT_MOUNT;
		}
	}
	if (!d->fopts.mountpoint) {
		log_error("out of memory");
		return EXIT_MOUNT;
	}
	return 0;
}

/* Run the session until unmounted or signalled.  Returns an exit code. */
static int serve(struct daemon *d, struct fuse_args *args)
{
	struct fuse_loop_config *lc = NULL;
	int rc, mounted = 0, signals = 0;

	d->se = fuse_session_new(args, fs_operations(), sizeof(*fs_operations()), d->fs);
	if (!d->se)
		return EXIT_USAGE; /* libfuse has said which option it did not know */
	rc = check_mountpoint(d);
	if (rc != 0)
		goto out;
	if (take_signals() != 0) {
		log_error("cannot set up signal handling");
		rc = EXIT_MOUNT;
		goto out;
	}
	if (fuse_session_mount(d->se, d->fopts.mountpoint) != 0) {
		rc = EXIT_MOUNT;
		goto out;
	}
	mounted = 1;
	if (fuse_daemonize(d->fopts.foreground) != 0) {
		rc = EXIT_MOUNT;
		goto out;
	}
	if (!d->fopts.foreground) {
		log_use_syslog();
		api_protect_token(d->api);
	}
	notify_ready();
	d->main_thread = pthread_self();
	if (pthread_create(&d->signals, NULL, signal_loop, d) != 0) {
		log_error("cannot start the signal thread");
		rc = EXIT_MOUNT;
		goto out;
	}
	signals = 1;
	if (fs_start(d->fs, d->se) != 0) {
		log_error("cannot start the notifier thread");
		rc = EXIT_MOUNT;
		goto out;
	}
	if (d->fopts.singlethread) {
		rc = fuse_session_loop(d->se);
	} else {
		lc = fuse_loop_cfg_create();
		if (!lc) {
			rc = EXIT_MOUNT;
			goto out;
		}
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)d->fopts.clone_fd);
		if (d->fopts.max_idle_threads != UINT_MAX) /* left unset */
			fuse_loop_cfg_set_idle_threads(lc, d->fopts.max_idle_threads);
		if (d->fopts.max_threads != UINT_MAX) /* left unset */
			fuse_loop_cfg_set_max_threads(lc, d->fopts.max_threads);
		rc = fuse_session_loop_mt(d->se, lc);
	}
	notify_stopping();
	/* Ended by unmount or by SIGINT/SIGTERM (fuse_session_exit): both are clean. */
	if (rc != 0 && rc != SIGINT && rc != SIGTERM) {
		log_error("the FUSE session ended with an error (%d)", rc);
		rc = EXIT_MOUNT;
	} else {
		rc = 0;
	}
out:
	atomic_store(&d->loop_done, true);
	/* Nothing waits for the server any more: the end is not held up by it. */
	api_abort(d->api);
	cache_close(d->cache);
	fs_stop(d->fs);
	if (signals) {
		atomic_store(&d->stopping, true);
		pthread_kill(d->signals, SIGHUP);
		pthread_join(d->signals, NULL);
	}
	fuse_loop_cfg_destroy(lc);
	if (mounted)
		fuse_session_unmount(d->se);
	fuse_session_destroy(d->se);
	return rc;
}

static void teardown(struct daemon *d)
{
	fs_free(d->fs);
	manage_free(d->manage);
	/* Wipes the secrets held, and names those never read. */
	minted_free(d->minted);
	cache_free(d->cache);
	api_free(d->api);
	free(d->base_url);
	free(d->mount_opts);
	free(d->fopts.mountpoint);
	free(d->cl.mountpoint);
	free(d->cl.extra);
	config_free(&d->cl.conf);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct daemon d;
	const char *prog = "synergyfs";
	int rc;

	/* A request to a running mount, not a mount: nothing below is needed. */
	rc = refresh_command(argc, argv, prog);
	if (rc >= 0)
		return rc;
	memset(&d, 0, sizeof(d));
	config_init(&d.cl.conf);
	/*
	 * The process holds the token: no core dumps, and no reading of its
	 * memory (ptrace, /proc/PID/mem) by the user's other processes.  This
	 * also makes the files of /proc/PID root's.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_warn("cannot make the process undumpable: %s", strerror(errno));
	if (!api_global_init()) {
		log_error("libcurl could not be initialised");
		return EXIT_MOUNT;
	}
	if (fuse_opt_parse(&args, &d.cl, option_spec, option_proc) != 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (d.cl.show_help) {
		usage(prog);
		rc = 0;
		goto out;
	}
	if (d.cl.show_version) {
		printf("synergyfs %s\nlibfuse %s\n%s\n", SYNERGYFS_VERSION, fuse_pkgversion(),
		       api_library_version());
		fflush(stdout);
		fuse_lowlevel_version();
		rc = 0;
		goto out;
	}
	if (fuse_parse_cmdline(&args, &d.fopts) != 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (d.fopts.debug)
		log_set_debug(true);
	rc = prepare(&d, &args, prog);
	if (rc == 0)
		rc = serve(&d, &args);
out:
	teardown(&d);
	fuse_opt_free_args(&args);
	api_global_cleanup();
	return rc;
}
