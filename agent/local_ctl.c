// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_clock.h"
#include "agent_config.h"
#include "captures.h"
#include "engine.h"
#include "fleet.h"
#include "local_ctl.h"
#include "log.h"
#include "osrandom.h"
#include "request.h"
#include "sp_rep.h"
#include "version.h"
#include "wire.h"

struct local_ctl {
	struct local_ctl_deps d;
	struct sp_rep *rep; /* SP REP on the local ipc socket (sp_rep.h: not NNG's, see there) */
};

static uint8_t *answer_bytes(void *arg, const uint8_t *req, size_t len, size_t *reply_len);

/*
 * Whoever can reach the socket commands the agent, so its directory must be ours alone: made
 * 0700 when missing; when it exists, owned by our uid with no group or other access, or the
 * agent does not start (its mode is the operator's to fix, not ours to change).
 */
static int check_socket_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (!mkdir(dir, 0700))
		return chmod(dir, 0700) ? -errno : 0; /* 0700 whatever the umask */
	if (errno != EEXIST) {
		int ret = -errno;

		snprintf(err, errlen, "cannot create the local socket's directory %s: %s", dir,
			 strerror(errno));
		return ret;
	}
	if (lstat(dir, &st)) {
		int ret = -errno;

		snprintf(err, errlen, "cannot check the local socket's directory %s: %s", dir,
			 strerror(errno));
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "the local socket's directory %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "the local socket's directory %s is owned by uid %u, not by the agent's "
			 "uid %u: others could reach the socket",
			 dir, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return -EPERM;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "the local socket's directory %s has mode %04o: group or others could "
			 "reach the socket (want 0700; chmod 0700 %s, or choose another "
			 "--local-socket)",
			 dir, (unsigned int)(st.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

int local_ctl_open(const struct local_ctl_deps *deps, struct local_ctl **out, char *err,
		   size_t errlen)
{
	const char *path = deps->cfg->local_socket;
	const struct sp_rep_opts opts = { .max_msg = deps->cfg->local_max_request,
					  .max_conns = deps->cfg->local_max_conns,
					  .timeout_ms = deps->cfg->local_timeout_ms };
	char dir[PATH_MAX];
	struct local_ctl *l;
	struct stat st;
	int ret;

	snprintf(dir, sizeof(dir), "%s", path);
	ret = check_socket_dir(dirname(dir), err, errlen);
	if (ret)
		return ret;
	/* A socket left by an agent that died is stale: no two agents run on one host. */
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->d = *deps;
	ret = sp_rep_open(path, &opts, answer_bytes, l, &l->rep, err, errlen);
	if (ret) {
		local_ctl_close(l);
		return ret;
	}
	if (chmod(path, 0600)) {
		ret = -errno;
		snprintf(err, errlen, "cannot restrict %s to mode 0600: %s", path, strerror(errno));
		local_ctl_close(l);
		return ret;
	}
	*out = l;
	return 0;
}

void local_ctl_close(struct local_ctl *l)
{
	if (!l)
		return;
	if (l->rep) {
		sp_rep_close(l->rep);
		unlink(l->d.cfg->local_socket);
	}
	free(l);
}

int local_ctl_recv_fd(const struct local_ctl *l)
{
	return sp_rep_fd(l->rep);
}

static void random_id(char out[WIRE_CAPTURE_ID_HEX_LEN])
{
	uint8_t id[WIRE_CAPTURE_ID_LEN];

	if (osrandom_fill(id, sizeof(id))) {
		/* Never reached on Linux for 16 bytes; a clock-based id still works locally. */
		uint64_t t = agent_now_ms();

		memset(id, 0, sizeof(id));
		memcpy(id, &t, sizeof(t));
	}
	wire_capture_id_format(id, out);
}

/*
 * detail is the peer's text (a command, an id) or a message quoting it. The message is cut to
 * fit and keeps to printable ASCII, as the project's error messages do: a cut through a
 * multi-byte character, or bytes that are not UTF-8 (in a parser's message), would make
 * json_pack refuse it, and the peer would get no answer at all.
 */
static json_t *error_reply(const char *fmt, const char *detail)
{
	char msg[600];

	snprintf(msg, sizeof(msg), fmt, detail);
	log_printable(msg);
	return json_pack("{s:i, s:b, s:s}", "v", LOCAL_CTL_VERSION, "ok", 0, "error", msg);
}

static json_t *handle_start(struct local_ctl *l, json_t *req)
{
	struct capture_request cr;
	const char *output = json_string_value(json_object_get(req, "output"));
	json_t *body = json_object_get(req, "request");
	char err[512], id[WIRE_CAPTURE_ID_HEX_LEN], *text;
	int ret;

	if (!json_is_object(body))
		return error_reply("%s", "request: must be a capture request object");
	if (!output || !output[0])
		return error_reply("%s", "output: must name the pcap file (a file name, or a path "
					 "beneath the agent's output directory)");
	text = json_dumps(body, JSON_COMPACT);
	if (!text)
		return error_reply("%s", "request: cannot be encoded");
	ret = request_from_json(text, strlen(text), REQ_SCOPE_LOCAL_REQUEST, &cr, err, sizeof(err));
	free(text);
	if (ret)
		return error_reply("invalid request: %s", err);
	random_id(id);
	ret = captures_start(l->d.caps, id, &cr, ORIGIN_LOCAL, output, err, sizeof(err));
	if (ret) {
		/* The host's operator hears it from edgecapctl; the agent's log keeps it too. */
		pr_warn("refused a local capture: %s", err);
		return error_reply("cannot start the capture: %s", err);
	}
	return json_pack("{s:i, s:b, s:s, s:s}", "v", LOCAL_CTL_VERSION, "ok", 1, "id", id,
			 "output", output);
}

/* The agent's status: who it is, its interfaces, its aggregator link and its captures. */
static json_t *status_json(const struct local_ctl *l)
{
	const struct agent_config *cfg = l->d.cfg;
	json_t *o = json_object(), *ifaces = json_array();
	unsigned int i;

	json_object_set_new(o, "host_id", json_string(cfg->host_id));
	json_object_set_new(o, "colo", json_string(cfg->colo));
	json_object_set_new(o, "version", json_string(EDGECAP_VERSION));
	for (i = 0; i < engine_n_ifaces(l->d.engine); i++) {
		const struct capture_obj *obj = engine_iface(l->d.engine, i);
		json_t *io = json_object();

		json_object_set_new(io, "name", json_string(obj->ifname));
		json_object_set_new(io, "ifindex", json_integer(obj->ifindex));
		json_object_set_new(io, "hook", json_string(hook_name(obj->hook)));
		json_object_set_new(io, "attach_mode", json_string(obj->attach_mode));
		json_array_append_new(ifaces, io);
	}
	json_object_set_new(o, "interfaces", ifaces);
	json_object_set_new(o, "aggregator", fleet_status_json(l->d.fleet));
	json_object_set_new(o, "captures", captures_json(l->d.caps));
	return o;
}

static json_t *handle(struct local_ctl *l, json_t *req)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	json_t *reply;

	if (json_integer_value(json_object_get(req, "v")) != LOCAL_CTL_VERSION)
		return error_reply("%s", "v: this agent speaks version 1 of the local protocol");
	if (!cmd)
		return error_reply("%s", "cmd: missing");
	if (!strcmp(cmd, "status")) {
		reply = status_json(l);
	} else if (!strcmp(cmd, "list")) {
		reply = json_pack("{s:o}", "captures", captures_json(l->d.caps));
	} else if (!strcmp(cmd, "start")) {
		return handle_start(l, req);
	} else if (!strcmp(cmd, "stop")) {
		const char *id = json_string_value(json_object_get(req, "id"));

		if (!id || captures_stop(l->d.caps, id))
			return error_reply("id: no capture \"%s\" runs on this agent",
					   id ? id : "(missing)");
		reply = json_pack("{s:s}", "id", id);
	} else {
		return error_reply("cmd: unknown command \"%s\" (status, list, start, stop)", cmd);
	}
	json_object_set_new(reply, "v", json_integer(LOCAL_CTL_VERSION));
	json_object_set_new(reply, "ok", json_true());
	return reply;
}

json_t *local_ctl_answer(struct local_ctl *l, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *req, *reply;

	req = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	reply = json_is_object(req) ? handle(l, req)
				    : error_reply("not a JSON object: %s", jerr.text);
	json_decref(req);
	return reply;
}

/* The bytes of the reply to one request, for sp_rep. */
static uint8_t *answer_bytes(void *arg, const uint8_t *req, size_t len, size_t *reply_len)
{
	json_t *reply = local_ctl_answer(arg, (const char *)req, len);
	char *out = json_dumps(reply, JSON_COMPACT);

	json_decref(reply);
	if (!out) {
		pr_warn_ratelimited("cannot encode an answer to edgecapctl");
		return NULL;
	}
	*reply_len = strlen(out);
	return (uint8_t *)out;
}

void local_ctl_handle(struct local_ctl *l)
{
	sp_rep_handle(l->rep);
}
