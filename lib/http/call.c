/* pex__http_call(): one logical request with the caller's policy (retries,
 * backoff, Retry-After, deadline, request class). The one retry loop of the
 * library's HTTP clients (Pexip, Azure Storage, Key Vault, JWKS). */
#include "core/stats.h"
#include "http/http_internal.h"

pex__http_verdict pex__http_judge(const pex__http_policy *pol, int err,
	const pex__http_response *resp)
{
	int retryable;

	if (err < 0) {
		if ((err != PEX_ENET && err != PEX_ETIMEOUT) || resp->too_big)
			return PEX__HTTP_STOP;
		return resp->not_sent || pol->idempotent ? PEX__HTTP_RETRY : PEX__HTTP_STOP;
	}
	if (resp->status >= 200 && resp->status < 300)
		return PEX__HTTP_STOP;
	retryable = pol->retry_status ? pol->retry_status(pol->arg, resp)
		: pex__http_status_retryable(resp->status);
	if (!retryable || (!pol->idempotent && !pol->retry_status && resp->status != 429))
		return PEX__HTTP_STOP;
	return PEX__HTTP_RETRY;
}

/* May some send of this request have been processed, beyond this reply? */
static int maybe_processed(int err, const pex__http_response *resp)
{
	if (err < 0)
		return !resp->not_sent;
	/* 502/504 and other 5xx: a proxy may have passed it on; 503 and 429
	 * are refusals before anything was done */
	return resp->status >= 500 && resp->status != 503;
}

int pex__http_call(pex__http *h, pex__http_req *req, const pex__http_policy *pol,
	pex__http_response *resp)
{
	unsigned attempt = 0;
	pex__http_verdict v;
	int64_t delay, ra, t0;
	int err, replayed = 0;

	resp->replayed = 0;
	resp->retries = 0;
	for (;;) {
		if (pol->prepare && (err = pol->prepare(pol->arg, attempt, req)) < 0)
			break;
		t0 = pex__stats_clock();
		err = pex__http_send(h, pol->cls, req, resp);
		if (pol->stats)
			pex__stats_pexip_request(req->method, pol->stats == PEX__HTTP_STATS_PEXIP_TOKEN,
				resp->status, err, t0);
		/* libcurl replays once on a dead reused connection */
		replayed = replayed || resp->sends > 1;
		resp->replayed = replayed;
		v = pol->judge ? pol->judge(pol->arg, attempt, err, resp) : pex__http_judge(pol, err, resp);
		if (v == PEX__HTTP_AGAIN)
			continue;
		if (v == PEX__HTTP_STOP || attempt >= pol->retries)
			break;
		ra = pol->retry_after && err == 0 ?
			pex__parse_retry_after(resp->retry_after, pex__unix_time()) : -1;
		delay = pex__backoff_ms(attempt, pol->base_ms, pol->cap_ms, ra, pex__random_u64());
		if (pol->deadline_ms > 0 && pex__now_ms() + delay > pol->deadline_ms)
			break;
		if (maybe_processed(err, resp))
			replayed = 1;
		resp->replayed = replayed;
		if (pol->on_retry)
			pol->on_retry(pol->arg, attempt, err, resp);
		if (pol->stats)
			pex__stats_pexip_retry();
		pex__sleep_ms(delay);
		resp->retries = ++attempt;
	}
	return err;
}
