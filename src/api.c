/*
 * api.c - the HTTP client, on libcurl; see api.h.
 */
#include "api.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "secret.h"
#include "synergyfs-config.h"

/* Tries of one idempotent request, and the back-off between them. */
#define API_MAX_ATTEMPTS 4
#define API_RETRY_FIRST_MS 250.0
#define API_RETRY_MAX_MS 4000.0

/*
 * The header that carries the token.  It is kept whole, in pages of its
 * own (secret.h): the one copy of the token in the daemon.
 */
#define AUTH_PREFIX "Authorization: Bearer "

struct api {
	pthread_mutex_t lock;
	CURL *curl;                 /* during a request only; NULL otherwise */
	char *base_url;             /* normalised: the API paths are appended */
	struct secret *auth;        /* the token, behind AUTH_PREFIX; wiped by api_free */
	const char *token;          /* the token itself, inside auth */
	struct api_config cfg;
	atomic_ulong requests;
	atomic_bool aborted;        /* api_abort: end the request in flight */
};

/* The body being received, bounded by max. */
struct sink {
	char *buf;
	size_t len, cap, max;
	bool too_big, no_mem;
	bool wipe;      /* the body is a secret: every block it leaves is wiped */
};

/*
 * One request.  A GET (body NULL) is idempotent and tried again after
 * overload, server errors and broken connections; a POST never is: one
 * that failed may have been carried out all the same.
 */
struct request {
	const char *path;     /* API_*_PATH: for messages and the log */
	char *url;            /* malloc'd: base_url, path and any query */
	const char *body;     /* a POST's body; NULL for a GET */
	size_t body_len;
	const char *type;     /* a POST's Content-Type header line, or NULL */
};

/*
 * libcurl's allocator.  libcurl copies the header with the token and builds
 * each request in buffers that it frees (or moves with realloc) as they
 * are: these wipe every block before giving it back, so that no copy of a
 * token outlives the request that needed it.
 */
static void wiping_free(void *p)
{
	if (p)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

static void *wiping_realloc(void *p, size_t size)
{
	size_t old;
	void *q;

	if (!p)
		return malloc(size);
	if (size == 0) {
		wiping_free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	if (size <= old)
		return p;
	q = malloc(size);
	if (!q)
		return NULL;
	memcpy(q, p, old);
	wiping_free(p);
	return q;
}

bool api_global_init(void)
{
	return curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wiping_free, wiping_realloc,
				    strdup, calloc) == CURLE_OK;
}

void api_global_cleanup(void)
{
	curl_global_cleanup();
}

struct api *api_new(const struct api_config *cfg, struct err *e)
{
	struct api *a = calloc(1, sizeof(*a));

	if (!a)
		goto nomem;
	pthread_mutex_init(&a->lock, NULL);
	a->cfg = *cfg;
	a->cfg.base_url = NULL;
	a->cfg.token = NULL;
	a->cfg.cacert = NULL;
	a->base_url = strdup(cfg->base_url);
	if (!a->base_url || !(a->auth = secret_join(AUTH_PREFIX, cfg->token)))
		goto nomem;
	a->token = secret_data(a->auth) + sizeof(AUTH_PREFIX) - 1;
	if (cfg->cacert && !(a->cfg.cacert = strdup(cfg->cacert)))
		goto nomem;
	return a;
nomem:
	api_free(a);
	err_set(e, ERR_NOMEM, "out of memory");
	return NULL;
}

void api_protect_token(struct api *a)
{
	pthread_mutex_lock(&a->lock);
	secret_protect(a->auth);
	pthread_mutex_unlock(&a->lock);
}

enum err_kind api_set_token(struct api *a, const char *token, struct err *e)
{
	struct secret *fresh = secret_join(AUTH_PREFIX, token), *old;

	if (!fresh)
		return err_set(e, ERR_NOMEM, "out of memory");
	pthread_mutex_lock(&a->lock);
	old = a->auth;
	a->auth = fresh;
	a->token = secret_data(a->auth) + sizeof(AUTH_PREFIX) - 1;
	pthread_mutex_unlock(&a->lock);
	secret_free(old);
	return ERR_OK;
}

void api_abort(struct api *a)
{
	if (a)
		atomic_store(&a->aborted, true);
}

void api_free(struct api *a)
{
	if (!a)
		return;
	secret_free(a->auth);
	free(a->base_url);
	free((char *)a->cfg.cacert);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

const char *api_library_version(void)
{
	return curl_version();
}

unsigned long api_requests(struct api *a)
{
	return atomic_load(&a->requests);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sink *s = userp;
	size_t n = size * nmemb;

	if (s->len + n > s->max) {
		s->too_big = true;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		char *nb;

		while (cap < s->len + n + 1)
			cap *= 2;
		nb = s->wipe ? wiping_realloc(s->buf, cap) : realloc(s->buf, cap);
		if (!nb) {
			s->no_mem = true;
			return 0;
		}
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return n;
}

/* Copy server-supplied text into out, with the token (if present) masked. */
static void scrub(const struct api *a, const char *in, char *out, size_t cap)
{
	size_t tlen = strlen(a->token);
	size_t o = 0;

	for (size_t i = 0; in[i] && o + 1 < cap;) {
		if (tlen >= 4 && strncmp(in + i, a->token, tlen) == 0) {
			for (const char *m = "[token]"; *m && o + 1 < cap; m++)
				out[o++] = *m;
			i += tlen;
		} else {
			out[o++] = in[i++];
		}
	}
	out[o] = '\0';
}

/* Map a transport failure to a kind and a message. */
static enum err_kind transport_error(struct api *a, CURLcode cc, const char *errbuf,
				     const struct sink *s, struct err *e)
{
	long oserr = 0;
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(cc);

	curl_easy_getinfo(a->curl, CURLINFO_OS_ERRNO, &oserr);
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return err_set(e, ERR_TIMEOUT, "no complete answer within the timeout: %s", detail);
	case CURLE_COULDNT_CONNECT:
		if (oserr == ECONNREFUSED)
			return err_set(e, ERR_REFUSED, "connection refused: %s", detail);
		if (oserr == EHOSTUNREACH || oserr == ENETUNREACH)
			return err_set(e, ERR_UNREACHABLE, "server unreachable: %s", detail);
		return err_set(e, ERR_NET, "could not connect: %s", detail);
	case CURLE_COULDNT_RESOLVE_HOST:
		return err_set(e, ERR_UNREACHABLE, "could not resolve the server's host: %s", detail);
	case CURLE_PEER_FAILED_VERIFICATION:
		return err_set(e, ERR_TLS, "TLS certificate verification failed: %s "
			       "(give the CA with -o cacert=PATH)", detail);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return err_set(e, ERR_TLS, "TLS failed: %s", detail);
	case CURLE_FILESIZE_EXCEEDED:
		return err_set(e, ERR_TOOBIG, "the answer is larger than max_response (%zu bytes)",
			       a->cfg.max_response);
	case CURLE_WRITE_ERROR:
		if (s->too_big)
			return err_set(e, ERR_TOOBIG, "the answer is larger than max_response (%zu bytes)",
				       a->cfg.max_response);
		if (s->no_mem)
			return err_set(e, ERR_NOMEM, "out of memory receiving the answer");
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		return err_set(e, ERR_NET, "the request was abandoned: synergyfs is shutting down");
	default:
		break;
	}
	return err_set(e, ERR_NET, "%s", detail);
}

/* Map a status that is not success to a kind and a message. */
static enum err_kind status_error(struct api *a, const struct request *rq, long status,
				  struct err *e)
{
	char *loc = NULL, where[256];

	if (status == 401 || status == 403)
		return err_set(e, ERR_AUTH, "the server rejected the token (HTTP %ld)", status);
	if (status >= 300 && status < 400) {
		curl_easy_getinfo(a->curl, CURLINFO_REDIRECT_URL, &loc);
		scrub(a, loc ? loc : "(no Location)", where, sizeof(where));
		return err_set(e, ERR_HTTP, "HTTP %ld redirect to %s refused: redirects are not "
			       "followed, so the token is never sent elsewhere; give the final URL",
			       status, where);
	}
	if (rq->body && status == 400)
		return err_set(e, ERR_INVALID, "the server refused the request as invalid "
			       "(HTTP 400 for %s)", rq->path);
	if (rq->body && status == 404)
		return err_set(e, ERR_NOT_FOUND, "not found (HTTP 404 for %s)", rq->path);
	if (status == 404)
		return err_set(e, ERR_HTTP, "HTTP 404 for %s: is the URL the server's base?",
			       rq->path);
	return err_set(e, ERR_HTTP, "HTTP %ld from the server", status);
}

/* libcurl's progress callback: a non-zero return ends the transfer. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct api *a = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&a->aborted) ? 1 : 0;
}

static void set_common_options(struct api *a, struct curl_slist *headers, struct sink *s,
			       char *errbuf)
{
	CURL *c = a->curl;

	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	/*
	 * A fresh connection for each request: on a kept-alive connection that
	 * the server closed mid-answer, libcurl silently sends the request
	 * again, so one try could cost the server two.  A fetch is at most one
	 * per TTL: the extra handshake is cheap.
	 */
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "synergyfs/" SYNERGYFS_VERSION);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)a->cfg.max_response);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	if (a->cfg.cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, a->cfg.cacert);
	if (a->cfg.insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * Is this outcome worth another try of an idempotent request?  Overload and
 * server errors (429, 5xx), and connections that broke mid-answer.  Not a
 * refused connection (the server is down: say so at once), not a timeout
 * (the time budget is spent), not a client error.
 */
static bool retryable(CURLcode cc, long status)
{
	switch (cc) {
	case CURLE_OK:
		return status == 429 || (status >= 500 && status <= 599);
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

/*
 * Send rq once, its answer into *s (emptied first); *status gets the HTTP
 * status (0 if none).  The handle and headers are exchange's.
 */
static CURLcode send_once(struct api *a, const struct request *rq, struct curl_slist *headers,
			  struct sink *s, char *errbuf, long budget_ms, long *status)
{
	double t0 = mono_ms();
	CURLcode cc;

	s->len = 0;
	s->too_big = s->no_mem = false;
	errbuf[0] = '\0';
	set_common_options(a, headers, s, errbuf);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, budget_ms);
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 a->cfg.connect_timeout_ms < budget_ms ? a->cfg.connect_timeout_ms : budget_ms);
	curl_easy_setopt(a->curl, CURLOPT_URL, rq->url);
	if (rq->body) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	} else {
		curl_easy_setopt(a->curl, CURLOPT_HTTPGET, 1L);
	}
	atomic_fetch_add(&a->requests, 1);
	cc = curl_easy_perform(a->curl);
	*status = 0;
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, status);
	log_debug("%s %s -> %ld, %zu bytes, %.0f ms%s%s", rq->body ? "POST" : "GET", rq->path,
		  *status, s->len, mono_ms() - t0, cc == CURLE_OK ? "" : ", ",
		  cc == CURLE_OK ? "" : curl_easy_strerror(cc));
	return cc;
}

/* Sleep ms milliseconds, or less if api_abort is called meanwhile. */
static void sleep_ms(struct api *a, double ms)
{
	double end = mono_ms() + ms, left;
	struct timespec ts;

	while (!atomic_load(&a->aborted) && (left = end - mono_ms()) > 0) {
		left = left < 50 ? left : 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e6);
		nanosleep(&ts, NULL);
	}
}

/*
 * A GET with its retries, on a->curl (lock held).  The body goes to *s;
 * returns the kind of the last failure, or ERR_OK.
 */
static enum err_kind get_with_retries(struct api *a, const struct request *rq,
				      struct curl_slist *headers, struct sink *s, struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	double deadline = mono_ms() + (double)a->cfg.timeout_ms, wait_ms = API_RETRY_FIRST_MS;
	enum err_kind rc = ERR_OK;
	long status = 0;
	int attempt;
	CURLcode cc;

	for (attempt = 1;; attempt++) {
		curl_off_t retry_after = -1;
		double left = deadline - mono_ms();

		cc = send_once(a, rq, headers, s, errbuf, left > 1 ? (long)left : 1, &status);
		if (cc == CURLE_OK && status == 200)
			return ERR_OK;
		rc = cc != CURLE_OK ? transport_error(a, cc, errbuf, s, e) : status_error(a, rq, status, e);
		if (attempt >= API_MAX_ATTEMPTS || !retryable(cc, status) ||
		    atomic_load(&a->aborted))
			break;
		/* The server's Retry-After, if any, instead of our own back-off. */
		/* (curl reports 0 when there is no Retry-After: then our own back-off.) */
		if (curl_easy_getinfo(a->curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
		    retry_after > 0)
			wait_ms = (double)retry_after * 1e3;
		if (mono_ms() + wait_ms >= deadline) {
			log_debug("not retrying: waiting %.0f ms would pass the timeout", wait_ms);
			break;
		}
		log_debug("retrying in %.0f ms (attempt %d of %d)", wait_ms, attempt + 1,
			  API_MAX_ATTEMPTS);
		sleep_ms(a, wait_ms);
		wait_ms = wait_ms * 2 < API_RETRY_MAX_MS ? wait_ms * 2 : API_RETRY_MAX_MS;
	}
	if (attempt > 1) {
		size_t n = strlen(e->msg);

		snprintf(e->msg + n, sizeof(e->msg) - n, " (after %d attempts)", attempt);
	}
	return rc;
}

/* A POST, once, on a->curl (lock held): any 2xx is success.  As get_with_retries. */
static enum err_kind post_once(struct api *a, const struct request *rq,
			       struct curl_slist *headers, struct sink *s, struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	long status = 0;
	CURLcode cc = send_once(a, rq, headers, s, errbuf, a->cfg.timeout_ms, &status);

	if (cc != CURLE_OK)
		return transport_error(a, cc, errbuf, s, e);
	if (status >= 200 && status <= 299)
		return ERR_OK;
	return status_error(a, rq, status, e);
}

/*
 * Send rq, its answer into *s: a GET with retries, a POST once.  A handle
 * and a header list for this request only, freed (and so wiped: see
 * wiping_free) when it is over.  A handle kept from one request to the next
 * would keep copies of the request, and so of the token, in its buffers
 * (libcurl copies an https request into its upload buffer).
 */
static enum err_kind exchange(struct api *a, const struct request *rq, struct sink *s,
			      struct err *e)
{
	struct curl_slist *headers, *h;
	enum err_kind rc;

	if (!rq->url)
		return err_set(e, ERR_NOMEM, "out of memory");
	pthread_mutex_lock(&a->lock);
	a->curl = curl_easy_init();
	headers = h = curl_slist_append(NULL, "Accept: application/json");
	if (h)
		h = curl_slist_append(headers, secret_data(a->auth));
	/* No default form type on a POST, and no wait for "100 Continue". */
	if (h && rq->body)
		h = curl_slist_append(headers, rq->type ? rq->type : "Content-Type:");
	if (h && rq->body)
		h = curl_slist_append(headers, "Expect:");
	if (!a->curl || !h)
		rc = err_set(e, ERR_NOMEM, "out of memory");
	else if (atomic_load(&a->aborted))
		rc = err_set(e, ERR_NET, "the request was abandoned: synergyfs is shutting down");
	else if (rq->body)
		rc = post_once(a, rq, headers, s, e);
	else
		rc = get_with_retries(a, rq, headers, s, e);
	curl_easy_cleanup(a->curl);
	a->curl = NULL;
	curl_slist_free_all(headers);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* Free s->buf, wiped first when s->wipe. */
static void sink_drop(struct sink *s)
{
	if (s->wipe && s->buf)
		explicit_bzero(s->buf, s->cap);
	free(s->buf);
	s->buf = NULL;
}

/*
 * The answer of a request that ended with rc: on ERR_OK s's buffer,
 * NUL-terminated, moves to *body (*len bytes); else it is dropped.
 */
static enum err_kind sink_take(struct sink *s, enum err_kind rc, char **body, size_t *len,
			       struct err *e)
{
	if (rc != ERR_OK) {
		sink_drop(s);
		return rc;
	}
	if (!s->buf && !(s->buf = calloc(1, 1)))
		return err_set(e, ERR_NOMEM, "out of memory");
	s->buf[s->len] = '\0'; /* on_body keeps a byte for it */
	*body = s->buf;
	*len = s->len;
	return ERR_OK;
}

/* base_url, path and query joined, malloc'd; NULL if out of memory. */
static char *url_of(const struct api *a, const char *path, const char *query)
{
	char *url;

	return asprintf(&url, "%s%s%s", a->base_url, path, query) < 0 ? NULL : url;
}

enum err_kind api_get_list(struct api *a, char **body, size_t *len, struct err *e)
{
	struct request rq = { .path = API_LIST_PATH, .url = url_of(a, API_LIST_PATH, "") };
	struct sink s = { .max = a->cfg.max_response };
	enum err_kind rc;

	*body = NULL;
	*len = 0;
	rc = exchange(a, &rq, &s, e);
	free(rq.url);
	return sink_take(&s, rc, body, len, e);
}

enum err_kind api_generate(struct api *a, const char *body, char **answer, size_t *len,
			   struct err *e)
{
	struct request rq = {
		.path = API_GENERATE_PATH, .url = url_of(a, API_GENERATE_PATH, ""),
		.body = body, .body_len = strlen(body), .type = "Content-Type: application/json",
	};
	struct sink s = { .max = a->cfg.max_response, .wipe = true };
	enum err_kind rc;

	*answer = NULL;
	*len = 0;
	rc = exchange(a, &rq, &s, e);
	free(rq.url);
	return sink_take(&s, rc, answer, len, e);
}

enum err_kind api_delete(struct api *a, int64_t id, struct err *e)
{
	char query[32];
	struct request rq = { .path = API_DELETE_PATH, .body = "", .body_len = 0 };
	struct sink s = { .max = a->cfg.max_response };
	enum err_kind rc;

	snprintf(query, sizeof(query), "?id=%" PRId64, id);
	rq.url = url_of(a, API_DELETE_PATH, query);
	rc = exchange(a, &rq, &s, e);
	free(rq.url);
	sink_drop(&s);
	return rc;
}
