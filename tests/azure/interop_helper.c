/* Our side of the interop test (interop.sh): put or get one message on a
 * queue through the Azure backend, with the payload as hex on the command
 * line / stdout so the shell can compare bytes exactly.
 *
 *   interop-helper put QUEUE HEX   create the queue, put the bytes
 *   interop-helper get QUEUE       receive one message, print its bytes as
 *                                  hex, delete it; exit 3 if none
 *   interop-helper poolput QUEUE NAME ID ALIAS GUEST_PIN CREATED
 *                                  what the pool does to queue a room:
 *                                  pex__poolmsg_encode() then pex_queue_put()
 *                                  on an "azure:" queue ("-" = no value)
 *   interop-helper poolget QUEUE   what the pool does with a message:
 *                                  pex_queue_receive() then
 *                                  pex__poolmsg_decode(); prints
 *                                  "name=N id=I alias=A guest_pin=P created=C"
 *                                  ("-" for none), deletes it; exit 3 if none
 * The connection string comes from PEX_AZURITE_CONNSTR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pexipsdk/sys/queue_backend.h"
#include "pool/poolmsg.h"

static const char *opt(const char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

static int pool_side(char **argv, const char *conn)
{
	char uri[1024];
	pex_queue *q = NULL;
	pex_message *m = NULL;
	struct pex__room_ref r;
	pex_buf enc = PEX_BUF_INIT;
	int err;

	snprintf(uri, sizeof(uri), "azure:%s", conn);
	memset(&r, 0, sizeof(r));
	if ((err = pex_queue_open(&q, uri, argv[2])) < 0)
		goto done;
	if (strcmp(argv[1], "poolput") == 0) {
		r.name = argv[3];
		r.id = atoll(argv[4]);
		r.alias = (char *)opt(argv[5]);
		r.guest_pin = (char *)opt(argv[6]);
		r.created = atoll(argv[7]);
		if ((err = pex__poolmsg_encode(&enc, &r)) == 0)
			err = pex_queue_put(q, enc.ptr, enc.size, 0);
		memset(&r, 0, sizeof(r));     /* borrowed strings: nothing to dispose */
		goto done;
	}
	if ((err = pex_queue_receive(&m, q, 30)) == PEX_EEMPTY) {
		fprintf(stderr, "queue %s is empty\n", argv[2]);
		pex_queue_free(q);
		return 3;
	}
	if (err < 0 || (err = pex__poolmsg_decode(&r, m->data, m->len)) < 0)
		goto done;
	printf("name=%s id=%lld alias=%s guest_pin=%s created=%lld\n", r.name, r.id,
		r.alias ? r.alias : "-", r.guest_pin ? r.guest_pin : "-", r.created);
	err = pex_queue_delete(q, m);
done:
	if (err < 0)
		fprintf(stderr, "%s: %s\n", pex_error_name(err), pex_error_last()->message);
	pex__room_ref_dispose(&r);
	pex_buf_dispose(&enc);
	pex_message_free(m);
	pex_queue_free(q);
	return err < 0;
}

static int unhex(unsigned char *out, const char *hex, size_t *len)
{
	size_t i, n = strlen(hex);
	if (n % 2)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return 0;
}

int main(int argc, char **argv)
{
	pex_queue_azure_options o = PEX_QUEUE_AZURE_OPTIONS_INIT;
	pex_queue_backend *b = NULL;
	int rc = 1;

	if (argc < 3 || !(o.connection_string = getenv("PEX_AZURITE_CONNSTR"))) {
		fprintf(stderr, "usage: PEX_AZURITE_CONNSTR=... %s put QUEUE HEX | get QUEUE | "
			"poolput QUEUE NAME ID ALIAS GUEST_PIN CREATED | poolget QUEUE\n", argv[0]);
		return 2;
	}
	if ((strcmp(argv[1], "poolput") == 0 && argc == 8) || strcmp(argv[1], "poolget") == 0)
		return pool_side(argv, o.connection_string);
	if (pex_queue_backend_azure_new(&b, &o) < 0)
		goto fail;
	if (strcmp(argv[1], "put") == 0 && argc == 4) {
		unsigned char *data = malloc(strlen(argv[3]) / 2 + 1);
		size_t len = 0;
		if (!data || unhex(data, argv[3], &len) < 0) {
			fprintf(stderr, "bad hex\n");
			free(data);
			b->free(b);
			return 2;
		}
		rc = b->create(b, argv[2]) < 0 || b->put(b, argv[2], data, len, 0) < 0;
		free(data);
		if (rc)
			goto fail;
	} else if (strcmp(argv[1], "get") == 0) {
		pex_message *m = NULL;
		size_t n = 0, i;
		if (b->receive(b, argv[2], 1, 30, &m, &n) < 0)
			goto fail;
		if (n == 0) {
			fprintf(stderr, "queue %s is empty\n", argv[2]);
			b->free(b);
			return 3;
		}
		for (i = 0; i < m->len; i++)
			printf("%02x", m->data[i]);
		printf("\n");
		rc = b->remove(b, argv[2], m) < 0;
		pex_message_free(m);
		if (rc)
			goto fail;
	} else {
		fprintf(stderr, "unknown command %s\n", argv[1]);
		b->free(b);
		return 2;
	}
	b->free(b);
	return 0;
fail:
	fprintf(stderr, "%s: %s\n", pex_error_name(pex_error_last()->code), pex_error_last()->message);
	if (b)
		b->free(b);
	return 1;
}
