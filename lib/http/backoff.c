/* Retry schedule, Retry-After parsing and status reason phrases. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_internal.h"

int64_t pex__backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms,
	int64_t retry_after_ms, uint64_t random)
{
	int64_t step = base_ms > 0 ? base_ms : 1, half, delay;
	unsigned i;
	if (cap_ms < 1)
		cap_ms = 1;
	for (i = 0; i < attempt && step < cap_ms; i++)
		step *= 2;
	if (step > cap_ms)
		step = cap_ms;
	half = step / 2;
	delay = (step - half) + (int64_t)(random % (uint64_t)(half + 1));
	if (delay > step)
		delay = step;
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	if (delay > cap_ms)
		delay = cap_ms;
	return delay;
}

int64_t pex__parse_retry_after(const char *value, int64_t now_unix)
{
	const char *p;
	struct tm tm;
	char *end;
	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (isdigit((unsigned char)*value)) {
		long long s;
		for (p = value; isdigit((unsigned char)*p); p++)
			;
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '\0')
			return -1;
		s = strtoll(value, NULL, 10);
		if (s > 86400)
			s = 86400;
		return (int64_t)s * 1000;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end)
		return -1;
	{
		int64_t when = (int64_t)timegm(&tm);
		return when > now_unix ? (when - now_unix) * 1000 : 0;
	}
}

int pex__http_status_retryable(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

const char *pex__http_reason(long status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: break;
	}
	if (status >= 500)
		return "Server Error";
	if (status >= 400)
		return "Client Error";
	return "Unexpected Status";
}
