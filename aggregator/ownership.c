// SPDX-License-Identifier: BSD-2-Clause
/* ownership.c: bucket-ownership challenges (ownership.h). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api.h"
#include "fileutil.h"
#include "log.h"
#include "osrandom.h"
#include "ownership.h"
#include "store.h"

#define OWN_FILE "ownership.json"
#define OWN_MAX	 1024 /* records, all accounts */
/*
 * Records of one account: one account alone cannot take every record of OWN_MAX and leave
 * the others unable to prove they own a bucket (its own it deletes).
 */
#define OWN_ACCOUNT_MAX 32
/*
 * Challenge objects being written at once, and one of them at most an account's. The PUT runs
 * on the API thread that answers the request (ownership.h), for up to S3_SMALL_TIMEOUT_S: with
 * a slow or unreachable bucket endpoint, as many creates as the API has threads would stall
 * every account's requests and /healthz. Two hold at most half of the default four threads,
 * and one account cannot hold both: with a single place, one account creating in a loop kept
 * every other account's creates out.
 */
#define OWN_PUTS_MAX 2
/*
 * Creates an account may make in an hour, written or not. Records are freed by a DELETE, which
 * leaves the challenge object in the bucket (it is the operator's to clean): without this, a
 * loop of creates and deletes wrote objects into the bucket without end (177 in 10 s).
 */
#define OWN_ACCOUNT_HOURLY 32
#define OWN_HOUR_US	   (3600ULL * 1000000ULL)
#define CHALLENGE_HEX_LEN  64

struct own_rec {
	char id[STORE_ID_LEN + 1];
	char account[STORE_ACCOUNT_MAX + 1];
	char dest[512];
	char filename[BUCKET_PREFIX_MAX + 64];
	char challenge[CHALLENGE_HEX_LEN + 1];
	bool validated;
	uint64_t submitted_us;
	uint64_t validated_us;
};

/* The times of an account's last creates (at most OWN_ACCOUNT_HOURLY in a rolling hour). */
struct own_rate {
	char account[STORE_ACCOUNT_MAX + 1];
	uint64_t at[OWN_ACCOUNT_HOURLY]; /* a ring: at[next] is the oldest once n is full */
	unsigned int n, next;
};

struct ownership {
	pthread_mutex_t lock;
	char dir[PATH_MAX];
	char buckets[STORE_MAX_BUCKETS][BUCKET_NAME_MAX + 1];
	size_t n_buckets;
	const struct s3_client *client;
	struct own_rec *recs; /* oldest first */
	size_t n;
	/* The accounts whose challenge object is being written ("": a free place). */
	char putting[OWN_PUTS_MAX][STORE_ACCOUNT_MAX + 1];
	struct own_rate *rates; /* each account that created, with its creates this hour */
	size_t n_rates;
};

static int random_hex(char *out, size_t bytes)
{
	unsigned char raw[64];
	size_t i;
	int ret;

	if (bytes > sizeof(raw))
		return -EINVAL;
	ret = osrandom_fill(raw, bytes);
	if (ret)
		return ret;
	for (i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static json_t *rec_json(const struct own_rec *r, bool secret)
{
	char submitted[RFC3339_US_LEN], validated[RFC3339_US_LEN];
	json_t *o;

	rfc3339_us_format(r->submitted_us, submitted, sizeof(submitted));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", r->id, "destination_conf", r->dest,
		      "filename", r->filename, "status", r->validated ? "success" : "pending",
		      "submitted", submitted);
	/* The flag, not the time: one validated at the epoch (a time of 0) stays validated. */
	if (o && r->validated) {
		rfc3339_us_format(r->validated_us, validated, sizeof(validated));
		json_object_set_new(o, "validated", json_string(validated));
	}
	if (o && secret) {
		json_object_set_new(o, "account", json_string(r->account));
		json_object_set_new(o, "challenge", json_string(r->challenge));
	}
	return o;
}

/* Under the lock: every record to the file, durably. */
static int save(struct ownership *o, char *err, size_t errlen)
{
	json_t *arr = json_array();
	const char *what = "encode";
	char *text = NULL;
	size_t i;
	int ret = -ENOMEM;

	for (i = 0; arr && i < o->n; i++) {
		if (json_array_append_new(arr, rec_json(&o->recs[i], true)))
			goto out;
	}
	text = arr ? json_dumps(arr, JSON_INDENT(2)) : NULL;
	if (!text)
		goto out;
	ret = file_write_durably(o->dir, OWN_FILE, text, strlen(text), 0640, &what);
out:
	if (ret)
		snprintf(err, errlen, "failed to write %.600s/%s (%s): %s", o->dir, OWN_FILE, what,
			 strerror(-ret));
	free(text);
	json_decref(arr);
	return ret;
}

static int str_member(json_t *obj, const char *key, char *buf, size_t len)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (!v || strlen(v) >= len)
		return -EINVAL;
	strcpy(buf, v);
	return 0;
}

static int load(struct ownership *o, char *err, size_t errlen)
{
	char path[PATH_MAX + 32], when[RFC3339_US_LEN + 8], why[256];
	struct bucket_url u;
	json_error_t jerr;
	json_t *arr, *v;
	size_t i;

	snprintf(path, sizeof(path), "%s/%s", o->dir, OWN_FILE);
	arr = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!arr) {
		if (access(path, F_OK))
			return 0;
		snprintf(err, errlen, "%s: %s", path, jerr.text);
		return -EINVAL;
	}
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "%s: not an array of ownership records", path);
		json_decref(arr);
		return -EINVAL;
	}
	o->recs = calloc(json_array_size(arr) + 1, sizeof(*o->recs));
	if (!o->recs) {
		snprintf(err, errlen, "%s: out of memory for %zu records", path,
			 json_array_size(arr));
		json_decref(arr);
		return -ENOMEM;
	}
	json_array_foreach (arr, i, v) {
		struct own_rec *r = &o->recs[o->n];

		if (str_member(v, "id", r->id, sizeof(r->id)) ||
		    str_member(v, "account", r->account, sizeof(r->account)) ||
		    str_member(v, "destination_conf", r->dest, sizeof(r->dest)) ||
		    str_member(v, "filename", r->filename, sizeof(r->filename)) ||
		    str_member(v, "challenge", r->challenge, sizeof(r->challenge)) ||
		    str_member(v, "submitted", when, sizeof(when)) ||
		    rfc3339_us_parse(when, &r->submitted_us) ||
		    /* What the API could not have written: a record nobody could delete. */
		    !store_id_valid(r->id) || !store_account_valid(r->account) ||
		    !bucket_url_is(r->dest) || bucket_url_parse(r->dest, &u, why, sizeof(why))) {
			pr_warn("%s: record %zu is invalid: skipped", path, i);
			continue;
		}
		if (!str_member(v, "validated", when, sizeof(when)) &&
		    !rfc3339_us_parse(when, &r->validated_us))
			r->validated = true;
		o->n++;
	}
	json_decref(arr);
	return 0;
}

int ownership_open(const char *state_dir, const char *const *buckets, size_t n,
		   const struct s3_client *client, struct ownership **out, char *err, size_t errlen)
{
	struct ownership *o = calloc(1, sizeof(*o));
	size_t i;
	int ret;

	if (!o) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&o->lock, NULL);
	snprintf(o->dir, sizeof(o->dir), "%s", state_dir);
	for (i = 0; i < n && i < STORE_MAX_BUCKETS; i++)
		snprintf(o->buckets[o->n_buckets++], sizeof(o->buckets[0]), "%s", buckets[i]);
	o->client = client;
	/* Before the store's open: the state directory may be new. */
	ret = file_mkdir_durably(state_dir, 0750);
	if (ret && ret != -EEXIST) {
		snprintf(err, errlen, "failed to create %s: %s", state_dir, strerror(-ret));
		ownership_close(o);
		return ret;
	}
	ret = load(o, err, errlen);
	if (ret) {
		ownership_close(o);
		return ret;
	}
	*out = o;
	return 0;
}

void ownership_close(struct ownership *o)
{
	if (!o)
		return;
	pthread_mutex_destroy(&o->lock);
	free(o->recs);
	free(o->rates);
	free(o);
}

static void reply_error(struct ownership_reply *r, unsigned int status, int code, const char *fmt,
			...) __attribute__((format(printf, 4, 5)));

static void reply_error(struct ownership_reply *r, unsigned int status, int code, const char *fmt,
			...)
{
	va_list ap;

	r->status = status;
	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

/* The body's members: destination_conf (a bucket this aggregator may write), and challenge. */
static int parse_body(struct ownership *o, const char *body, size_t len, bool want_challenge,
		      struct bucket_url *u, char *dest, size_t destlen, char *challenge,
		      struct ownership_reply *r)
{
	json_error_t jerr;
	const char *d, *ch, *key;
	json_t *root, *v;
	char why[256];
	size_t i;

	root = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!root || !json_is_object(root)) {
		reply_error(r, 400, API_ERR_MALFORMED_JSON,
			    "malformed JSON: want {\"destination_conf\": \"s3://BUCKET...\"%s}",
			    want_challenge ? ", \"ownership_challenge\": \"...\"" : "");
		json_decref(root);
		return -EINVAL;
	}
	json_object_foreach (root, key, v) {
		if (strcmp(key, "destination_conf") &&
		    !(want_challenge && !strcmp(key, "ownership_challenge"))) {
			reply_error(r, 400, API_ERR_INVALID_REQUEST, "%.64s: unknown field", key);
			goto bad;
		}
	}
	d = json_string_value(json_object_get(root, "destination_conf"));
	if (!d) {
		reply_error(r, 400, API_ERR_INVALID_REQUEST,
			    "destination_conf: required, a bucket such as s3://BUCKET");
		goto bad;
	}
	if (!bucket_url_is(d) || strlen(d) >= destlen) {
		reply_error(r, 400, API_ERR_INVALID_REQUEST,
			    "destination_conf: ownership is for buckets, s3://BUCKET[/PREFIX] or "
			    "gs://BUCKET[/PREFIX]");
		goto bad;
	}
	if (bucket_url_parse(d, u, why, sizeof(why))) {
		reply_error(r, 400, API_ERR_INVALID_REQUEST, "%s", why);
		goto bad;
	}
	for (i = 0; i < o->n_buckets && strcmp(o->buckets[i], u->bucket); i++)
		;
	if (i == o->n_buckets) {
		reply_error(r, 400, API_ERR_INVALID_REQUEST,
			    "destination_conf: bucket \"%s\" is not one this aggregator may write "
			    "to (--s3-allow-bucket)",
			    u->bucket);
		goto bad;
	}
	strcpy(dest, d);
	if (want_challenge) {
		ch = json_string_value(json_object_get(root, "ownership_challenge"));
		if (!ch || strlen(ch) > 4 * CHALLENGE_HEX_LEN) {
			reply_error(r, 400, API_ERR_INVALID_REQUEST,
				    "ownership_challenge: required, the contents of the challenge "
				    "file written to the bucket");
			goto bad;
		}
		/* What a download of the object may add: a trailing newline. */
		snprintf(challenge, CHALLENGE_HEX_LEN + 2, "%.65s", ch);
		challenge[strcspn(challenge, "\r\n")] = '\0';
	}
	json_decref(root);
	return 0;
bad:
	json_decref(root);
	return -EINVAL;
}

/* Under the lock: account's last creates, added when new; NULL: no memory. */
static struct own_rate *rate_of(struct ownership *o, const char *account)
{
	struct own_rate *r;
	size_t i;

	for (i = 0; i < o->n_rates; i++) {
		if (!strcmp(o->rates[i].account, account))
			break;
	}
	if (i == o->n_rates) {
		r = realloc(o->rates, (o->n_rates + 1) * sizeof(*o->rates));
		if (!r)
			return NULL;
		o->rates = r;
		memset(&r[i], 0, sizeof(r[i]));
		snprintf(r[i].account, sizeof(r[i].account), "%s", account);
		o->n_rates++;
	}
	return &o->rates[i];
}

/*
 * Under the lock: why account may not create one more record now (*status 429, or 500), or
 * NULL, with its place among the writes taken (*slot) and the create counted.
 */
static const char *create_admit(struct ownership *o, const char *account, uint64_t now,
				unsigned int *status, size_t *slot)
{
	size_t i, mine = 0, free_slot = OWN_PUTS_MAX, busy = 0;
	struct own_rate *rate;

	*status = 429;
	for (i = 0; i < o->n; i++)
		mine += !strcmp(o->recs[i].account, account);
	for (i = 0; i < OWN_PUTS_MAX; i++) {
		if (!o->putting[i][0]) {
			free_slot = i;
			continue;
		}
		busy++;
		if (!strcmp(o->putting[i], account))
			return "this account's last ownership challenge is still being written: "
			       "try again in a moment";
	}
	/* At most one in flight an account: its record fits when it is written. */
	if (mine >= OWN_ACCOUNT_MAX)
		return "too many ownership challenges for this account: delete some first";
	if (o->n + busy >= OWN_MAX)
		return "too many ownership challenges on this aggregator: try again later";
	if (free_slot == OWN_PUTS_MAX)
		return "other ownership challenges are being written: try again in a moment";
	rate = rate_of(o, account);
	if (!rate) {
		*status = 500;
		return "out of memory for the account's count of challenges";
	}
	/* Its 32nd create back less than an hour ago: a rolling hour, not a window. */
	if (rate->n >= OWN_ACCOUNT_HOURLY && now - rate->at[rate->next] < OWN_HOUR_US)
		return "at most 32 ownership challenges an hour for this account: try again later";
	rate->at[rate->next] = now;
	rate->next = (rate->next + 1) % OWN_ACCOUNT_HOURLY;
	if (rate->n < OWN_ACCOUNT_HOURLY)
		rate->n++;
	snprintf(o->putting[free_slot], sizeof(o->putting[free_slot]), "%s", account);
	*slot = free_slot;
	return NULL;
}

static void handle_create(struct ownership *o, const char *account, const char *body, size_t len,
			  struct ownership_reply *r)
{
	struct own_rec rec = { 0 }, *recs;
	char tag[9], err[768], serr[512];
	unsigned int status;
	struct bucket_url u;
	const char *why;
	size_t slot = 0;
	int ret;

	if (parse_body(o, body, len, false, &u, rec.dest, sizeof(rec.dest), NULL, r))
		return;
	if (random_hex(rec.id, STORE_ID_LEN / 2) || random_hex(rec.challenge, 32) ||
	    random_hex(tag, 4)) {
		reply_error(r, 500, API_ERR_INTERNAL, "no randomness for a challenge");
		return;
	}
	snprintf(rec.account, sizeof(rec.account), "%s", account);
	snprintf(rec.filename, sizeof(rec.filename), "%s%sownership-challenge-%s.txt", u.prefix,
		 u.prefix[0] ? "/" : "", tag);
	rec.submitted_us = store_wall_us(store_now_us());
	/*
	 * The limits before the object is written: a refused create writes nothing into the
	 * bucket. The PUT's place is held while it runs, so the record has room after it.
	 */
	pthread_mutex_lock(&o->lock);
	why = create_admit(o, account, store_now_us(), &status, &slot);
	pthread_mutex_unlock(&o->lock);
	if (why) {
		reply_error(r, status, status == 429 ? API_ERR_RATE_FULL : API_ERR_INTERNAL, "%s",
			    why);
		return;
	}
	/* The object first: a record whose challenge is not in the bucket helps nobody. */
	ret = s3_put_buf(o->client, &u, rec.filename, rec.challenge, strlen(rec.challenge), serr,
			 sizeof(serr));
	pthread_mutex_lock(&o->lock);
	o->putting[slot][0] = '\0';
	if (ret) {
		pthread_mutex_unlock(&o->lock);
		pr_warn("ownership challenge for account %s in %s: %s", account, rec.dest, serr);
		reply_error(r, 502, API_ERR_INTERNAL,
			    "failed to write the ownership challenge %s into %s: %s", rec.filename,
			    rec.dest, serr);
		return;
	}
	recs = realloc(o->recs, (o->n + 1) * sizeof(*o->recs));
	if (!recs) {
		pthread_mutex_unlock(&o->lock);
		reply_error(r, 500, API_ERR_INTERNAL, "out of memory for the ownership record");
		return;
	}
	o->recs = recs;
	o->recs[o->n++] = rec;
	ret = save(o, err, sizeof(err));
	if (ret)
		o->n--;
	pthread_mutex_unlock(&o->lock);
	if (ret) {
		reply_error(r, 500, API_ERR_INTERNAL, "%s", err);
		return;
	}
	pr_info("ownership challenge %s for account %s: %s in %s", rec.id, account, rec.filename,
		rec.dest);
	r->status = 200;
	r->result = rec_json(&rec, false);
}

static void handle_validate(struct ownership *o, const char *account, const char *body, size_t len,
			    struct ownership_reply *r)
{
	char dest[512], challenge[CHALLENGE_HEX_LEN + 2], err[768];
	struct own_rec *match = NULL;
	struct bucket_url u;
	bool any = false;
	size_t i;

	if (parse_body(o, body, len, true, &u, dest, sizeof(dest), challenge, r))
		return;
	pthread_mutex_lock(&o->lock);
	for (i = o->n; i-- > 0;) {
		struct own_rec *x = &o->recs[i];

		if (strcmp(x->account, account) || strcmp(x->dest, dest))
			continue;
		any = true;
		if (strlen(challenge) == CHALLENGE_HEX_LEN &&
		    !CRYPTO_memcmp(x->challenge, challenge, CHALLENGE_HEX_LEN)) {
			match = x;
			break;
		}
	}
	if (match && !match->validated) {
		match->validated = true;
		match->validated_us = store_wall_us(store_now_us());
		if (save(o, err, sizeof(err))) {
			match->validated = false;
			match->validated_us = 0;
			pthread_mutex_unlock(&o->lock);
			reply_error(r, 500, API_ERR_INTERNAL, "%s", err);
			return;
		}
		pr_info("ownership %s of account %s validated: %s", match->id, account, dest);
	}
	if (match)
		r->result = rec_json(match, false);
	pthread_mutex_unlock(&o->lock);
	if (match) {
		r->status = 200;
		return;
	}
	if (!any)
		reply_error(r, 400, API_ERR_INVALID_REQUEST,
			    "destination_conf: no ownership challenge of account %s for %s (create "
			    "one with POST .../pcaps/ownership first)",
			    account, dest);
	else
		reply_error(r, 400, API_ERR_INVALID_REQUEST,
			    "ownership_challenge: does not match the challenge written to %s",
			    dest);
}

static void handle_list(struct ownership *o, const char *account, struct ownership_reply *r)
{
	json_t *arr = json_array();
	size_t i;

	pthread_mutex_lock(&o->lock);
	for (i = o->n; arr && i-- > 0;) {
		if (!strcmp(o->recs[i].account, account))
			json_array_append_new(arr, rec_json(&o->recs[i], false));
	}
	pthread_mutex_unlock(&o->lock);
	r->status = 200;
	r->result = arr;
}

static void handle_delete(struct ownership *o, const char *account, const char *id,
			  struct ownership_reply *r)
{
	char err[768];
	struct own_rec gone;
	size_t i;
	int ret;

	pthread_mutex_lock(&o->lock);
	for (i = 0; i < o->n; i++) {
		if (!strcmp(o->recs[i].id, id) && !strcmp(o->recs[i].account, account))
			break;
	}
	if (i == o->n) {
		pthread_mutex_unlock(&o->lock);
		reply_error(r, 404, API_ERR_CAPTURE_NOT_FOUND, "no ownership %.40s in account %s",
			    id, account);
		return;
	}
	gone = o->recs[i];
	memmove(&o->recs[i], &o->recs[i + 1], (o->n - i - 1) * sizeof(*o->recs));
	o->n--;
	ret = save(o, err, sizeof(err));
	if (ret) {
		memmove(&o->recs[i + 1], &o->recs[i], (o->n - i) * sizeof(*o->recs));
		o->recs[i] = gone;
		o->n++;
	}
	pthread_mutex_unlock(&o->lock);
	if (ret) {
		reply_error(r, 500, API_ERR_INTERNAL, "%s", err);
		return;
	}
	pr_info("ownership %s of account %s deleted", id, account);
	r->status = 200;
	r->result = json_pack("{s:s}", "id", id);
}

void ownership_api(struct ownership *o, const char *method, const char *account, const char *rest,
		   const char *body, size_t body_len, struct ownership_reply *r)
{
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	memset(r, 0, sizeof(*r));
	if (!o) {
		reply_error(r, 404, API_ERR_NO_ROUTE,
			    "bucket destinations are not configured on this aggregator "
			    "(--s3-allow-bucket)");
		return;
	}
	if (!*rest || !strcmp(rest, "/")) {
		if (get)
			return handle_list(o, account, r);
		if (!strcmp(method, "POST"))
			return handle_create(o, account, body, body_len, r);
		r->allow = "GET, HEAD, POST";
	} else if (!strcmp(rest, "/validate")) {
		if (!strcmp(method, "POST"))
			return handle_validate(o, account, body, body_len, r);
		r->allow = "POST";
	} else if (rest[0] == '/' && strlen(rest + 1) == STORE_ID_LEN && store_id_valid(rest + 1)) {
		if (!strcmp(method, "DELETE"))
			return handle_delete(o, account, rest + 1, r);
		r->allow = "DELETE";
	} else {
		reply_error(r, 404, API_ERR_NO_ROUTE, "no such endpoint under pcaps/ownership");
		return;
	}
	reply_error(r, 405, API_ERR_METHOD, "method %.16s is not allowed here (allowed: %s)",
		    method, r->allow);
}

int ownership_check(void *ctx, const char *account, const char *destination_conf, char *err,
		    size_t errlen)
{
	struct ownership *o = ctx;
	struct bucket_url want, have;
	char why[256];
	bool ok = false;
	size_t i;

	if (bucket_url_parse(destination_conf, &want, why, sizeof(why))) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	pthread_mutex_lock(&o->lock);
	for (i = 0; i < o->n && !ok; i++) {
		const struct own_rec *r = &o->recs[i];

		ok = r->validated && !strcmp(r->account, account) &&
		     !bucket_url_parse(r->dest, &have, why, sizeof(why)) &&
		     have.scheme == want.scheme && !strcmp(have.bucket, want.bucket);
	}
	pthread_mutex_unlock(&o->lock);
	if (ok)
		return 0;
	snprintf(err, errlen,
		 "destination_conf: account %s has no validated ownership of bucket %s://%s: "
		 "create a challenge with POST .../pcaps/ownership and validate it with POST "
		 ".../pcaps/ownership/validate first",
		 account, bucket_scheme_name(want.scheme), want.bucket);
	return -EPERM;
}
