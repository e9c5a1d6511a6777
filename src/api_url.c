/*
 * api_url.c - checking the server's base URL, with libcurl's URL parser;
 * see api_normalize_url and api_url_is_loopback in api.h.  Part of the api
 * module, the only one that knows libcurl.
 *
 * Owns: what a usable base URL is (scheme, host, no credentials, no query).
 * Must not touch: requests, the token (api.c's).
 */
#include "api.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

static bool part_present(CURLU *u, CURLUPart part)
{
	char *v = NULL;
	bool present = curl_url_get(u, part, &v, 0) == CURLUE_OK && v && *v;

	curl_free(v);
	return present;
}

enum err_kind api_normalize_url(const char *url, char **out, struct err *e)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	enum err_kind rc = ERR_CONFIG;
	size_t len;

	*out = NULL;
	if (!u)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (!url || !*url) {
		err_set(e, ERR_CONFIG, "the server URL is empty");
		goto out;
	}
	if (!strstr(url, "://")) {
		err_set(e, ERR_CONFIG, "the server URL '%s' has no scheme: write http://%s or https://%s",
			url, url, url);
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		err_set(e, ERR_CONFIG, "'%s' is not a valid URL", url);
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		err_set(e, ERR_CONFIG, "the server URL must start with http:// or https://, not %s://",
			scheme);
		goto out;
	}
	if (!part_present(u, CURLUPART_HOST)) {
		err_set(e, ERR_CONFIG, "the server URL '%s' has no host", url);
		goto out;
	}
	if (part_present(u, CURLUPART_USER) || part_present(u, CURLUPART_PASSWORD)) {
		err_set(e, ERR_CONFIG, "the server URL must not contain a user name or password; "
			"give the token with -o token_file=PATH or SYNERGY_TOKEN");
		goto out;
	}
	if (part_present(u, CURLUPART_QUERY) || part_present(u, CURLUPART_FRAGMENT)) {
		err_set(e, ERR_CONFIG, "the server URL must not have a query (?) or fragment (#)");
		goto out;
	}
	*out = strdup(url);
	if (!*out) {
		rc = err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	len = strlen(*out);
	while (len > 0 && (*out)[len - 1] == '/')
		(*out)[--len] = '\0';
	rc = ERR_OK;
out:
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

bool api_url_is_loopback(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool lo = false;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		lo = strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
		     strcmp(host, "[::1]") == 0;
	curl_free(host);
	curl_url_cleanup(u);
	return lo;
}
