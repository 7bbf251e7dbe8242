/* pexctl get | list | update | delete: conferences on Pexip by name,
 * through pex_room_* and the client alone (no queue, no pool), so they work
 * on any conference, pooled or not (pexctl(1)). */
#include <getopt.h>   /* optind, optarg */
#include <stdlib.h>
#include <string.h>

#include "pexctl.h"

json_object *pexctl_json_parse(int err, pex_buf *b)
{
	json_object *o = err == 0 ? json_tokener_parse(b->ptr) : NULL;
	pex_buf_dispose(b);
	return o;
}

json_object *pexctl_room_json(const pex_room *r)
{
	pex_buf b = PEX_BUF_INIT;
	return pexctl_json_parse(pex_room_to_json(&b, r), &b);
}

static void print_room_text(const pex_room *r)
{
	size_t i;
	printf("name:          %s\n", pex_room_name(r));
	printf("id:            %lld\n", pex_room_id(r));
	for (i = 0; i < pex_room_alias_count(r); i++)
		printf("alias:         %s\n", pex_room_alias(r, i));
	printf("guest_pin:     %s\n", pex_room_guest_pin(r));
	printf("pin:           %s\n", pex_room_pin(r));
	printf("tag:           %s\n", pex_room_tag(r));
	printf("service_type:  %s\n", pex_room_service_type(r));
	printf("allow_guests:  %s\n", pex_room_allow_guests(r) ? "yes" : "no");
	if (pex_room_description(r)[0])
		printf("description:   %s\n", pex_room_description(r));
	if (pex_room_creation_time(r)[0])
		printf("created:       %s\n", pex_room_creation_time(r));
}

/* A flag that takes a string, and where the string goes. */
typedef struct string_flag {
	int val;              /* what pexctl_getopt returns for the flag */
	const char **dst;
} string_flag;

/* Parse the flags of a command whose flags all take a string (@flags ends
 * with a NULL dst). -1 when they are all stored, else the exit status of
 * the usage error, already reported. */
static int string_flags(pexctl *ctl, int argc, char **argv, const string_flag *flags)
{
	int c;

	while ((c = pexctl_getopt(ctl, argc, argv)) != -1) {
		const string_flag *f = flags;
		while (f->dst && f->val != c)
			f++;
		if (!f->dst)
			return pexctl_bad_option(ctl, argv);
		*f->dst = optarg;
	}
	return -1;
}

/* Print @r (JSON with --json, else text), free it, return EXIT_OK. */
static int show_room(pexctl *ctl, pex_room *r)
{
	if (ctl->json)
		pexctl_print_json(pexctl_room_json(r));
	else
		print_room_text(r);
	pex_room_free(r);
	return EXIT_OK;
}

int cmd_get(pexctl *ctl, int argc, char **argv)
{
	pex_room *r = NULL;
	int err;
	if (pexctl_getopt(ctl, argc, argv) != -1)
		return pexctl_bad_option(ctl, argv);
	if (argc - optind != 1)
		return pexctl_usage(ctl, "get takes one NAME");
	if ((err = pexctl_client(ctl)) < 0)
		return pexctl_fail(ctl, err, NULL);
	if ((err = pex_room_get_by_name(&r, ctl->client, argv[optind])) < 0)
		return pexctl_fail(ctl, err, NULL);
	return show_room(ctl, r);
}

int cmd_list(pexctl *ctl, int argc, char **argv)
{
	pex_room_filter f = PEX_ROOM_FILTER_INIT;
	pex_room_iter *it = NULL;
	pex_room *r = NULL;
	json_object *arr = NULL;
	size_t count = 0;
	int err;
	const string_flag flags[] = { { 'p', &f.name_prefix }, { 't', &f.tag }, { 0, NULL } };

	if ((err = string_flags(ctl, argc, argv, flags)) >= 0)
		return err;
	if (optind != argc)
		return pexctl_usage(ctl, "list takes no arguments (got '%s')", argv[optind]);
	if ((err = pexctl_client(ctl)) < 0)
		return pexctl_fail(ctl, err, NULL);
	f.page_size = 500;
	if ((err = pex_room_iter_new(&it, ctl->client, &f)) < 0)
		return pexctl_fail(ctl, err, NULL);
	if (ctl->json)
		arr = json_object_new_array();
	while ((err = pex_room_iter_next(&r, it)) == 0) {
		if (arr) {
			json_object_array_add(arr, pexctl_room_json(r));
		} else {
			if (count == 0)
				printf("%-8s %-40s %s\n", "ID", "NAME", "TAG");
			printf("%-8lld %-40s %s\n", pex_room_id(r), pex_room_name(r), pex_room_tag(r));
		}
		count++;
		pex_room_free(r);
	}
	pex_room_iter_free(it);
	if (err != PEX_ITEROVER) {
		json_object_put(arr);
		return pexctl_fail(ctl, err, NULL);
	}
	if (arr)
		pexctl_print_json(arr);
	else if (!ctl->quiet)
		fprintf(stderr, "%zu conference%s\n", count, count == 1 ? "" : "s");
	return EXIT_OK;
}

int cmd_update(pexctl *ctl, int argc, char **argv)
{
	pex_room_patch p = PEX_ROOM_PATCH_INIT;
	pex_tag_rules rules;
	pex_buf tag = PEX_BUF_INIT;
	pex_room *r = NULL;
	int err;
	const string_flag flags[] = { { 't', &p.tag }, { 'd', &p.description }, { 0, NULL } };

	if ((err = string_flags(ctl, argc, argv, flags)) >= 0)
		return err;
	if (argc - optind != 1)
		return pexctl_usage(ctl, "update takes one NAME");
	if (!p.tag && !p.description)
		return pexctl_usage(ctl, "update: nothing to change (give --tag or --description)");
	/* a tag is a URL by the rules of --tag-url (https, tag.allowed_hosts,
	 * at most 250 characters), checked before anything is sent; "" clears it */
	if ((err = pexctl_config(ctl)) < 0)
		return pexctl_fail(ctl, err, NULL);
	if (p.tag && p.tag[0]) {
		if ((err = pexctl_tag_rules(ctl, &rules)) < 0 ||
		    (err = pex_tag_from_url(&tag, &rules, p.tag)) < 0) {
			pex_buf_dispose(&tag);
			return pexctl_fail(ctl, err, "update: --tag");
		}
		p.tag = tag.ptr;
	}
	if ((err = pexctl_client(ctl)) < 0) {
		pex_buf_dispose(&tag);
		return pexctl_fail(ctl, err, NULL);
	}
	if ((err = pex_room_get_by_name(&r, ctl->client, argv[optind])) < 0) {
		pex_buf_dispose(&tag);
		return pexctl_fail(ctl, err, NULL);
	}
	err = pex_room_update(ctl->client, pex_room_id(r), &p);
	pex_buf_dispose(&tag);
	if (err == 0) {
		long long id = pex_room_id(r);
		pex_room_free(r);
		r = NULL;
		err = pex_room_get(&r, ctl->client, id);
	}
	if (err < 0) {
		pex_room_free(r);
		return pexctl_fail(ctl, err, NULL);
	}
	return show_room(ctl, r);
}

typedef struct delete_report {
	json_object *deleted, *gone, *failed;
	int first_err;
	pex_error_class first_klass;
	char first_msg[1024];   /* the first failure's message, for the exit report */
} delete_report;

static void delete_one(pexctl *ctl, delete_report *rep, const char *name)
{
	int deleted = 0, err = pex_room_delete_by_name(&deleted, ctl->client, name);
	if (err < 0) {
		json_object *f = json_object_new_object();
		json_object_object_add(f, "name", json_object_new_string(name));
		json_object_object_add(f, "error", json_object_new_string(pex_error_last()->message));
		json_object_array_add(rep->failed, f);
		fprintf(stderr, "pexctl: %s: %s\n", name, pex_error_last()->message);
		if (!rep->first_err) {
			rep->first_err = err;
			rep->first_klass = pex_error_last()->klass;
			snprintf(rep->first_msg, sizeof(rep->first_msg), "%s: %s", name, pex_error_last()->message);
		}
		return;
	}
	json_object_array_add(deleted ? rep->deleted : rep->gone, json_object_new_string(name));
	if (!ctl->json && !ctl->quiet)
		printf("%s: %s\n", name, deleted ? "deleted" : "already gone");
}

int cmd_delete(pexctl *ctl, int argc, char **argv)
{
	const char *prefix = NULL;
	json_object *doc = NULL;
	delete_report rep;
	int c, yes = 0, err, i;

	while ((c = pexctl_getopt(ctl, argc, argv)) != -1) {
		switch (c) {
		case 'p': prefix = optarg; break;
		case 'y': yes = 1; break;
		default: return pexctl_bad_option(ctl, argv);
		}
	}
	if (prefix && optind != argc)
		return pexctl_usage(ctl, "delete: give names or --prefix, not both");
	if (!prefix && optind == argc)
		return pexctl_usage(ctl, "delete needs NAMEs or --prefix P --yes");
	if (prefix && !*prefix)
		return pexctl_usage(ctl, "delete: --prefix must not be empty");
	if (prefix && !yes)
		return pexctl_usage(ctl, "delete: refusing to delete every room named '%s*' without --yes", prefix);
	for (i = optind; i < argc; i++)
		if (pex_room_name_check(argv[i]) < 0)
			return pexctl_usage(ctl, "delete: argument %d: %s", i - optind + 1, pex_error_last()->message);
	if ((err = pexctl_client(ctl)) < 0)
		return pexctl_fail(ctl, err, NULL);

	memset(&rep, 0, sizeof(rep));
	rep.deleted = json_object_new_array();
	rep.gone = json_object_new_array();
	rep.failed = json_object_new_array();
	if (prefix) {
		/* Collect first, then delete: deleting while paging would shift offsets. */
		pex_room_filter f = PEX_ROOM_FILTER_INIT;
		pex_room_iter *it = NULL;
		pex_room *r = NULL;
		json_object *names = json_object_new_array();
		size_t n, k;
		f.name_prefix = prefix;
		f.page_size = 500;
		err = pex_room_iter_new(&it, ctl->client, &f);
		while (err == 0 && (err = pex_room_iter_next(&r, it)) == 0) {
			if (strncmp(pex_room_name(r), prefix, strlen(prefix)) == 0)
				json_object_array_add(names, json_object_new_string(pex_room_name(r)));
			pex_room_free(r);
		}
		pex_room_iter_free(it);
		if (err != PEX_ITEROVER) {
			json_object_put(names);
			json_object_put(rep.deleted);
			json_object_put(rep.gone);
			json_object_put(rep.failed);
			return pexctl_fail(ctl, err, NULL);
		}
		n = json_object_array_length(names);
		for (k = 0; k < n; k++) {
			delete_one(ctl, &rep, json_object_get_string(json_object_array_get_idx(names, k)));
			pexctl_progress(ctl, k + 1, n, "deleting");
		}
		if (n)
			pexctl_progress_end(ctl);
		json_object_put(names);
	} else {
		for (i = optind; i < argc; i++)
			delete_one(ctl, &rep, argv[i]);
	}
	if (ctl->json) {
		doc = json_object_new_object();
		json_object_object_add(doc, "deleted", rep.deleted);
		json_object_object_add(doc, "already_gone", rep.gone);
		json_object_object_add(doc, "failed", rep.failed);
	} else {
		json_object_put(rep.deleted);
		json_object_put(rep.gone);
		json_object_put(rep.failed);
	}
	if (rep.first_err) {
		/* each failure is on stderr already; the JSON report carries the first */
		if (!ctl->json)
			return pexctl_exit_code(rep.first_err);
		pex_error_set(rep.first_err, rep.first_klass, "%s", rep.first_msg);
		return pexctl_fail_report(ctl, doc, rep.first_err, "delete");
	}
	if (doc)
		pexctl_print_json(doc);
	return EXIT_OK;
}
