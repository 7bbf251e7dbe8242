/* Small utilities for the emulator: hash map, time, RNG, strings, JSON. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "emu.h"

/* ---- allocation ---- */

static void oom(void)
{
	fputs("pexip-emulator: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom();
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return s;
}

/* ---- hash map ---- */

typedef struct map_ent {
	struct map_ent *next;
	uint64_t hash;
	size_t klen;
	void *val;
	unsigned char key[]; /* klen bytes + NUL */
} map_ent;

struct emu_map {
	map_ent **b;
	size_t nb, count;
};

static uint64_t fnv1a(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL;
	size_t i;
	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	/* final avalanche so that small integer keys spread over buckets */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

emu_map *map_new(void)
{
	emu_map *m = xcalloc(1, sizeof(*m));
	m->nb = 64;
	m->b = xcalloc(m->nb, sizeof(*m->b));
	return m;
}

void map_free(emu_map *m, void (*free_val)(void *))
{
	size_t i;
	if (!m)
		return;
	for (i = 0; i < m->nb; i++) {
		map_ent *e = m->b[i], *n;
		for (; e; e = n) {
			n = e->next;
			if (free_val)
				free_val(e->val);
			free(e);
		}
	}
	free(m->b);
	free(m);
}

static map_ent **map_find(const emu_map *m, const void *key, size_t klen, uint64_t h)
{
	map_ent **pp = &m->b[h & (m->nb - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
			return pp;
	return pp;
}

static void map_grow(emu_map *m)
{
	size_t nb = m->nb * 2, i;
	map_ent **b = xcalloc(nb, sizeof(*b));
	for (i = 0; i < m->nb; i++) {
		map_ent *e = m->b[i], *n;
		for (; e; e = n) {
			n = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

void *map_get(const emu_map *m, const void *key, size_t klen)
{
	map_ent **pp = map_find(m, key, klen, fnv1a(key, klen));
	return *pp ? (*pp)->val : NULL;
}

void *map_put(emu_map *m, const void *key, size_t klen, void *val)
{
	uint64_t h = fnv1a(key, klen);
	map_ent **pp = map_find(m, key, klen, h), *e;
	if (*pp) {
		void *old = (*pp)->val;
		(*pp)->val = val;
		return old;
	}
	e = xmalloc(sizeof(*e) + klen + 1);
	e->next = NULL;
	e->hash = h;
	e->klen = klen;
	e->val = val;
	memcpy(e->key, key, klen);
	e->key[klen] = 0;
	*pp = e;
	if (++m->count > m->nb)
		map_grow(m);
	return NULL;
}

void *map_del(emu_map *m, const void *key, size_t klen)
{
	map_ent **pp = map_find(m, key, klen, fnv1a(key, klen)), *e = *pp;
	void *v;
	if (!e)
		return NULL;
	*pp = e->next;
	v = e->val;
	free(e);
	m->count--;
	return v;
}

size_t map_count(const emu_map *m)
{
	return m->count;
}

void map_remove_if(emu_map *m, bool (*drop)(void *val, void *ctx), void *ctx,
		   void (*free_val)(void *))
{
	size_t i;
	for (i = 0; i < m->nb; i++) {
		map_ent **pp = &m->b[i];
		while (*pp) {
			map_ent *e = *pp;
			if (drop(e->val, ctx)) {
				*pp = e->next;
				if (free_val)
					free_val(e->val);
				free(e);
				m->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}

void *map_iget(const emu_map *m, int64_t k)
{
	return map_get(m, &k, sizeof(k));
}

void *map_iput(emu_map *m, int64_t k, void *v)
{
	return map_put(m, &k, sizeof(k), v);
}

void *map_idel(emu_map *m, int64_t k)
{
	return map_del(m, &k, sizeof(k));
}

/* ---- time ---- */

int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fmt_iso(int64_t us, char *buf, size_t n)
{
	time_t s = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	struct tm tm;
	if (frac < 0) {
		frac += 1000000;
		s--;
	}
	gmtime_r(&s, &tm);
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int digits(const char *s, int n, int *out)
{
	int i, v = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int parse_iso(const char *s, int64_t *us)
{
	int Y, M, D, h = 0, mi = 0, sec = 0, oh, om;
	long frac = 0;
	int64_t off = 0;
	struct tm tm;
	time_t t;
	if (!s || strlen(s) < 10 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) ||
	    s[7] != '-' || digits(s + 8, 2, &D))
		return -1;
	s += 10;
	if (*s == 'T' || *s == ' ') {
		s++;
		if (digits(s, 2, &h) || s[2] != ':' || digits(s + 3, 2, &mi))
			return -1;
		s += 5;
		if (*s == ':') {
			if (digits(s + 1, 2, &sec))
				return -1;
			s += 3;
		}
		if (*s == '.') {
			long scale = 100000;
			s++;
			if (!isdigit((unsigned char)*s))
				return -1;
			for (; isdigit((unsigned char)*s); s++) {
				frac += (*s - '0') * scale;
				scale /= 10;
			}
		}
	}
	if (*s == 'Z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s == '-' ? -1 : 1;
		if (digits(s + 1, 2, &oh))
			return -1;
		s += 3;
		if (*s == ':')
			s++;
		if (digits(s, 2, &om))
			return -1;
		s += 2;
		off = sign * ((int64_t)oh * 3600 + om * 60);
	}
	if (*s || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*us = ((int64_t)t - off) * 1000000 + frac;
	return 0;
}

/* ---- RNG ---- */

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_s[4] = { 1, 2, 3, 4 };

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(uint64_t seed)
{
	int i;
	pthread_mutex_lock(&rng_lock);
	for (i = 0; i < 4; i++)
		rng_s[i] = splitmix64(&seed);
	pthread_mutex_unlock(&rng_lock);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

double rng_uniform(void)
{
	uint64_t r, t;
	pthread_mutex_lock(&rng_lock);
	r = rotl(rng_s[1] * 5, 7) * 9;
	t = rng_s[1] << 17;
	rng_s[2] ^= rng_s[0];
	rng_s[3] ^= rng_s[1];
	rng_s[1] ^= rng_s[2];
	rng_s[0] ^= rng_s[3];
	rng_s[2] ^= t;
	rng_s[3] = rotl(rng_s[3], 45);
	pthread_mutex_unlock(&rng_lock);
	return (double)(r >> 11) * 0x1.0p-53;
}

void uuid4(char *out)
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		abort();
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

void random_hex(char *out, size_t nbytes)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char b[64];
	size_t i;
	if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
		abort();
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * nbytes] = 0;
}

/* ---- JSON ---- */

char *json_dump(json_object *o)
{
	return xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
}

json_object *json_parse(const char *buf, size_t len, const char **err)
{
	json_tokener *tok;
	json_object *o;
	enum json_tokener_error jerr;
	if (len == 0) {
		*err = "empty body";
		return NULL;
	}
	if (len > (size_t)0x7fffffff || memchr(buf, 0, len)) {
		*err = "body contains a NUL byte";
		return NULL;
	}
	tok = json_tokener_new_ex(64);
	if (!tok)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		/* the document ended too early */
		json_object_put(o);
		o = NULL;
		*err = "unexpected end of JSON input";
	} else if (jerr != json_tokener_success) {
		json_object_put(o);
		o = NULL;
		*err = json_tokener_error_desc(jerr);
	} else {
		/* only whitespace may follow the document */
		size_t off = json_tokener_get_parse_end(tok);
		for (; off < len; off++) {
			if (!isspace((unsigned char)buf[off])) {
				json_object_put(o);
				o = NULL;
				*err = "trailing characters after the JSON document";
				break;
			}
		}
	}
	json_tokener_free(tok);
	return o;
}

/* ---- strings ---- */

void sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void sb_puts(sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	sb_add(b, s, (size_t)n);
	free(s);
}

void sb_urlenc(sbuf *b, const char *s)
{
	static const char hx[] = "0123456789ABCDEF";
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			sb_add(b, (const char *)&c, 1);
		} else {
			char e[3] = { '%', hx[c >> 4], hx[c & 15] };
			sb_add(b, e, 3);
		}
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void form_decode(char *s)
{
	char *w = s;
	for (; *s; s++) {
		if (*s == '+') {
			*w++ = ' ';
		} else if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*w++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = 0;
}

unsigned char *b64url_decode(const char *s, size_t len, size_t *out_len)
{
	unsigned char *out;
	size_t i, o = 0;
	uint32_t acc = 0;
	int bits = 0;
	if (len % 4 == 1)
		return NULL;
	out = xmalloc(len * 3 / 4 + 2);
	for (i = 0; i < len; i++) {
		int v;
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)((acc >> bits) & 0xff);
		}
	}
	/* leftover bits must be zero (canonical encoding) */
	if (bits && (acc & ((1u << bits) - 1))) {
		free(out);
		return NULL;
	}
	out[o] = 0;
	*out_len = o;
	return out;
}

/* ---- responses ---- */

void resp_clear(resp *r)
{
	int i;
	free(r->body);
	for (i = 0; i < r->n_hdrs; i++) {
		free(r->hdr_name[i]);
		free(r->hdr_val[i]);
	}
	memset(r, 0, sizeof(*r));
}

void resp_json(resp *r, int status, json_object *o)
{
	free(r->body);
	r->status = status;
	r->body = json_dump(o);
	r->len = strlen(r->body);
	r->ctype = "application/json";
	json_object_put(o);
}

void resp_error(resp *r, int status, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	json_object *o = json_object_new_object();
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(msg));
	free(msg);
	resp_json(r, status, o);
}

void resp_empty(resp *r, int status)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
	r->ctype = NULL;
	r->status = status;
}

void resp_header(resp *r, const char *name, const char *val)
{
	if (r->n_hdrs >= RESP_MAX_HDRS)
		return;
	r->hdr_name[r->n_hdrs] = xstrdup(name);
	r->hdr_val[r->n_hdrs] = xstrdup(val);
	r->n_hdrs++;
}
