/*
 * Token bucket and Retry-After (see k8s_limit.h).
 */
#include "k8s/k8s_limit.h"

#include <stdint.h>
#include <string.h>

void k8s_bucket_init(struct k8s_bucket *b, double qps, unsigned burst, double now)
{
	b->qps = qps;
	b->burst = burst ? (double)burst : 1.0;
	b->tokens = b->burst;
	b->last = now;
}

double k8s_bucket_take(struct k8s_bucket *b, double now)
{
	if (b->qps <= 0)
		return 0;
	/* A clock that went back refills nothing (and takes nothing away). */
	if (now > b->last) {
		b->tokens += (now - b->last) * b->qps;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last = now;
	}
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	return (1.0 - b->tokens) / b->qps;
}

/* ------------------------------------------------------------------ */
/* Retry-After */

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Exactly n digits at *p, moved past them. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int lit(const char **p, const char *s)
{
	size_t n = strlen(s);
	if (strncmp(*p, s, n) != 0)
		return -1;
	*p += n;
	return 0;
}

/* One of `names` (each n letters) at *p: its index. */
static int word(const char **p, const char *const *names, int count, int *out)
{
	for (int i = 0; i < count; i++) {
		size_t n = strlen(names[i]);
		if (strncmp(*p, names[i], n) == 0) {
			*p += n;
			*out = i;
			return 0;
		}
	}
	return -1;
}

static const char *const MONTHS[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const DAYS[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const LONG_DAYS[7] = {"Monday", "Tuesday", "Wednesday", "Thursday",
					 "Friday", "Saturday", "Sunday"};

/* "HH:MM:SS" */
static int clock_time(const char **p, int *h, int *m, int *s)
{
	if (digits(p, 2, h) || lit(p, ":") || digits(p, 2, m) || lit(p, ":") || digits(p, 2, s))
		return -1;
	return *h <= 23 && *m <= 59 && *s <= 60 ? 0 : -1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), after Howard
 * Hinnant's days_from_civil. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int http_date(const char *v, int64_t *out)
{
	const char *p = v;
	int wd, day, mon, year, h, m, s;
	if (word(&p, LONG_DAYS, 7, &wd) == 0) {
		/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year
		 * more than 50 years ahead is in the past century (§5.6.7). */
		if (lit(&p, ", ") || digits(&p, 2, &day) || lit(&p, "-") ||
		    word(&p, MONTHS, 12, &mon) || lit(&p, "-") || digits(&p, 2, &year) ||
		    lit(&p, " ") || clock_time(&p, &h, &m, &s) || lit(&p, " GMT"))
			return -1;
		year += year >= 70 ? 1900 : 2000;
	} else if (word(&p, DAYS, 7, &wd) == 0 && *p == ',') {
		/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
		if (lit(&p, ", ") || digits(&p, 2, &day) || lit(&p, " ") ||
		    word(&p, MONTHS, 12, &mon) || lit(&p, " ") || digits(&p, 4, &year) ||
		    lit(&p, " ") || clock_time(&p, &h, &m, &s) || lit(&p, " GMT"))
			return -1;
	} else if (p != v) {
		/* asctime: "Sun Nov  6 08:49:37 1994" (the day padded by a space) */
		if (lit(&p, " ") || word(&p, MONTHS, 12, &mon) || lit(&p, " "))
			return -1;
		if (*p == ' ') {
			p++;
			if (digits(&p, 1, &day))
				return -1;
		} else if (digits(&p, 2, &day)) {
			return -1;
		}
		if (lit(&p, " ") || clock_time(&p, &h, &m, &s) || lit(&p, " ") ||
		    digits(&p, 4, &year))
			return -1;
	} else {
		return -1;
	}
	if (*p || day < 1 || day > 31)
		return -1;
	*out = days_from_civil(year, mon + 1, day) * 86400 + h * 3600 + m * 60 + s;
	return 0;
}

int k8s_retry_after_parse(const char *value, time_t now, double *seconds)
{
	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t n = strlen(value);
	while (n && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r'))
		n--;
	char buf[64];
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, value, n);
	buf[n] = '\0';
	if (is_digit(buf[0])) {
		/* delay-seconds = 1*DIGIT; a huge one saturates (it is capped
		 * by the caller anyway) */
		double v = 0;
		for (size_t i = 0; i < n; i++) {
			if (!is_digit(buf[i]))
				return -1;
			v = v * 10 + (buf[i] - '0');
			if (v > 1e12)
				v = 1e12;
		}
		*seconds = v;
		return 0;
	}
	int64_t t;
	if (http_date(buf, &t) != 0)
		return -1;
	*seconds = t > (int64_t)now ? (double)(t - (int64_t)now) : 0.0;
	return 0;
}

double k8s_retry_delay(long status, const char *retry_after, unsigned attempt, time_t now)
{
	if ((status != 429 && status != 503) || attempt > K8S_RETRY_MAX)
		return -1;
	double s;
	if (k8s_retry_after_parse(retry_after, now, &s) != 0) {
		if (status != 429)
			return -1;
		s = K8S_RETRY_AFTER_DEFAULT;
	}
	return s > K8S_RETRY_AFTER_MAX ? K8S_RETRY_AFTER_MAX : s;
}

/* ------------------------------------------------------------------ */
/* backoff of failed writes */

void k8s_backoff_init(struct k8s_backoff *b, double initial, double max)
{
	b->initial = initial;
	b->max = max < initial ? initial : max;
	b->delay = 0;
	b->last = 0;
}

double k8s_backoff_failed(struct k8s_backoff *b, double now)
{
	if (b->delay <= 0) {
		b->delay = b->initial;
		b->last = now;
	} else if (now - b->last >= b->delay) {
		b->delay = b->delay * 2 > b->max ? b->max : b->delay * 2;
		b->last = now;
	}
	return b->delay;
}

void k8s_backoff_succeeded(struct k8s_backoff *b)
{
	b->delay = 0;
}
