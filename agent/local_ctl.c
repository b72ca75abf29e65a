// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "agent.h"
#include "local_ctl.h"
#include "log.h"

int local_ctl_open(struct agent *a, char *err, size_t errlen)
{
	char url[sizeof(a->cfg.local_socket) + 8], dir[PATH_MAX];
	const char *path = a->cfg.local_socket;
	struct stat st;
	int ret;

	snprintf(dir, sizeof(dir), "%s", path);
	/* Only root reaches the socket: its directory is 0700 and the socket 0600. */
	if (mkdir(dirname(dir), 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the directory of %s: %s", path,
			 strerror(errno));
		return ret;
	}
	/* A socket left by an agent that died is stale: no two agents run on one host. */
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
	snprintf(url, sizeof(url), "ipc://%s", path);
	a->local_sock = nn_socket(AF_SP, NN_REP);
	if (a->local_sock < 0 || nn_bind(a->local_sock, url) < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot bind the local control socket %s: %s", path,
			 nn_strerror(-ret));
		return ret;
	}
	if (chmod(path, 0600)) {
		ret = -errno;
		snprintf(err, errlen, "cannot restrict %s to mode 0600: %s", path, strerror(errno));
		return ret;
	}
	return 0;
}

void local_ctl_close(struct agent *a)
{
	if (a->local_sock >= 0) {
		nn_close(a->local_sock);
		unlink(a->cfg.local_socket);
	}
	a->local_sock = -1;
}

static void random_id(char out[WIRE_CAPTURE_ID_HEX_LEN])
{
	uint8_t id[WIRE_CAPTURE_ID_LEN];

	if (getrandom(id, sizeof(id), 0) != sizeof(id)) {
		/* Never reached on Linux for 16 bytes; a clock-based id still works locally. */
		uint64_t t = agent_now_ms();

		memset(id, 0, sizeof(id));
		memcpy(id, &t, sizeof(t));
	}
	wire_capture_id_format(id, out);
}

static json_t *error_reply(const char *fmt, const char *detail)
{
	char msg[600];

	snprintf(msg, sizeof(msg), fmt, detail);
	return json_pack("{s:i, s:b, s:s}", "v", LOCAL_CTL_VERSION, "ok", 0, "error", msg);
}

static json_t *handle_start(struct agent *a, json_t *req)
{
	struct capture_request cr;
	const char *output = json_string_value(json_object_get(req, "output"));
	json_t *body = json_object_get(req, "request");
	char err[512], id[WIRE_CAPTURE_ID_HEX_LEN], *text;
	int ret;

	if (!json_is_object(body))
		return error_reply("%s", "request: must be a capture request object");
	if (!output || output[0] != '/')
		return error_reply("%s", "output: must be an absolute path for the pcap file");
	text = json_dumps(body, JSON_COMPACT);
	if (!text)
		return error_reply("%s", "request: cannot be encoded");
	ret = request_from_json(text, strlen(text), REQ_SCOPE_LOCAL_REQUEST, &cr, err, sizeof(err));
	free(text);
	if (ret)
		return error_reply("invalid request: %s", err);
	random_id(id);
	ret = agent_capture_start(a, id, &cr, ORIGIN_LOCAL, output, err, sizeof(err));
	if (ret)
		return error_reply("cannot start the capture: %s", err);
	return json_pack("{s:i, s:b, s:s, s:s}", "v", LOCAL_CTL_VERSION, "ok", 1, "id", id,
			 "output", output);
}

static json_t *handle(struct agent *a, json_t *req)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	json_t *reply, *caps;
	unsigned int i;

	if (json_integer_value(json_object_get(req, "v")) != LOCAL_CTL_VERSION)
		return error_reply("%s", "v: this agent speaks version 1 of the local protocol");
	if (!cmd)
		return error_reply("%s", "cmd: missing");
	if (!strcmp(cmd, "status")) {
		reply = agent_status_json(a);
	} else if (!strcmp(cmd, "list")) {
		caps = json_array();
		for (i = 0; i < EC_MAX_SLOTS; i++) {
			if (a->captures[i])
				json_array_append_new(caps, agent_capture_json(a->captures[i]));
		}
		reply = json_pack("{s:o}", "captures", caps);
	} else if (!strcmp(cmd, "start")) {
		return handle_start(a, req);
	} else if (!strcmp(cmd, "stop")) {
		const char *id = json_string_value(json_object_get(req, "id"));
		struct agent_capture *ac = id ? agent_capture_find(a, id) : NULL;

		if (!ac)
			return error_reply("id: no capture \"%s\" runs on this agent",
					   id ? id : "(missing)");
		capture_stop(ac->cap, STOP_STOPPED, NULL);
		reply = json_pack("{s:s}", "id", id);
	} else {
		return error_reply("cmd: unknown command \"%s\" (status, list, start, stop)", cmd);
	}
	json_object_set_new(reply, "v", json_integer(LOCAL_CTL_VERSION));
	json_object_set_new(reply, "ok", json_true());
	return reply;
}

void local_ctl_handle(struct agent *a)
{
	json_error_t jerr;
	json_t *req, *reply;
	char *buf = NULL, *out;
	int n;

	n = nn_recv(a->local_sock, &buf, NN_MSG, NN_DONTWAIT);
	if (n < 0)
		return;
	req = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	nn_freemsg(buf);
	reply = json_is_object(req) ? handle(a, req)
				    : error_reply("not a JSON object: %s", jerr.text);
	json_decref(req);
	out = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (out && nn_send(a->local_sock, out, strlen(out), NN_DONTWAIT) < 0)
		pr_warn("cannot answer edgecapctl: %s", nn_strerror(nn_errno()));
	free(out);
}
