/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * manifest.h: the manifest codec. A capture's record (struct store_capture) to and from
 * captures/<id>/manifest.json, whose schema docs/manifest.md describes member by member. The
 * store calls these with its lock held (store_internal.h); they touch no store state.
 *
 * Versions: "version" is MANIFEST_VERSION (1); a manifest of another version is refused, not
 * guessed at. The "agents" object is the ingest's and the fan-out's (store_update_agent): the
 * codec keeps it as it is, without looking inside.
 */
#ifndef EDGECAP_MANIFEST_H
#define EDGECAP_MANIFEST_H

#include <stddef.h>

#include <jansson.h>

#include "store_internal.h"

/*
 * The manifest of c: a new reference, or NULL when out of memory. It shares c->agents (a
 * reference, not a copy): copy it before letting it leave the lock.
 */
json_t *manifest_json(const struct store_capture *c);
/*
 * Writes captures/<id>/manifest.json so that a reader (or a restart) sees the old or the new
 * manifest, never part of one: a temp file beside it (MANIFEST_TMP...), fsync, rename, fsync of
 * the directory. The directory must exist. err says what failed, naming the path.
 */
int manifest_write(struct store *s, const struct store_capture *c, char *err, size_t errlen);
/*
 * captures/<id>/manifest.json as written, a new reference in *out, with its "id" and its
 * "agents" object checked: for a finished capture, whose agents the store keeps on disk only
 * (store_internal.h). No lock needed. A negative errno (-ENOENT, -EINVAL for a manifest that is
 * not one of id's, ...), err naming the path.
 */
int manifest_read(const struct store *s, const char *id, json_t **out, char *err, size_t errlen);
/*
 * Copies s into buf (len > 0), cut to fit before a whole character: the manifest's text is
 * UTF-8, and a cut inside a character leaves bytes that manifest_json's json_pack refuses, so
 * that no later write of the manifest would succeed. Every fixed-size text member of a record
 * (stop_reason, error_message) is filled with it, from a manifest read or from the store.
 */
void manifest_str_copy(char *buf, size_t len, const char *s);
/*
 * A manifest read from captures/<id>/ into c (id is the directory's name, which the manifest's
 * "id" must match): -EINVAL with why naming the first bad member, or -ENOMEM.
 */
int manifest_parse(const json_t *m, const char *id, struct store_capture *c, char *why,
		   size_t whylen);

#endif /* EDGECAP_MANIFEST_H */
