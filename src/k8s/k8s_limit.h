/*
 * How often the API client may ask: the pure half (no I/O, no clock of its
 * own; every function takes "now"), so that it is tested with tables.
 *
 * k8s_bucket is the client-side rate limit: a token bucket of `burst`
 * tokens that refills at `qps` a second, as client-go's (a request takes a
 * token; with none left it waits for the next).  Watches take none: a
 * watch is one long request, and client-go does not limit them either.
 *
 * k8s_retry_after_parse reads a Retry-After header (RFC 9110 §10.2.3:
 * delay-seconds, or an HTTP-date in any of the three forms §5.6.7 says a
 * recipient must accept), and k8s_retry_delay turns an answer into how
 * long to wait before sending the request again: the API server answers
 * 429 (and 503 while starting) with Retry-After when it sheds load
 * (max-inflight limits, API Priority and Fairness).
 */
#ifndef IRONLB_K8S_K8S_LIMIT_H
#define IRONLB_K8S_K8S_LIMIT_H

#include <stdbool.h>
#include <time.h>

struct k8s_bucket {
	double qps;       /* tokens a second; <= 0: no limit */
	double burst;     /* the most tokens held */
	double tokens;    /* held at `last` */
	double last;      /* when tokens was computed, seconds on the caller's clock */
};

/* A full bucket at `now`.  qps <= 0 turns the limit off; burst 0 means 1
 * (a bucket that never holds a token would never let anything out). */
void k8s_bucket_init(struct k8s_bucket *b, double qps, unsigned burst, double now);
/* Take a token at `now`: 0 when one was there (it is taken), else the
 * seconds until there will be one (nothing is taken). */
double k8s_bucket_take(struct k8s_bucket *b, double now);

/* A Retry-After value as seconds from `now` (a date in the past is 0):
 * 0 and *seconds set, or -1 when it is neither delay-seconds nor an
 * HTTP-date (IMF-fixdate, RFC 850 or asctime form). */
int k8s_retry_after_parse(const char *value, time_t now, double *seconds);

/* Retries of one request after 429 or 503 answers, as client-go's
 * default; then the answer goes to the caller. */
#define K8S_RETRY_MAX 10
/* The longest wait a Retry-After may ask for; a longer one is cut to
 * this (a far date, or a server that is wrong, must not park a request
 * for hours). */
#define K8S_RETRY_AFTER_MAX 60.0
/* The wait when a 429 carries no usable Retry-After. */
#define K8S_RETRY_AFTER_DEFAULT 1.0

/* Whether an answer of `status` with a Retry-After header of `retry_after`
 * (NULL when absent) is to be sent again after attempt `attempt` (1 for
 * the first answer): the delay in seconds, or -1 for no.  429 is always
 * retried (K8S_RETRY_AFTER_DEFAULT without a usable header); 503 only
 * with a usable header (an API server that is starting says when to come
 * back); nothing else. */
double k8s_retry_delay(long status, const char *retry_after, unsigned attempt, time_t now);

/*
 * k8s_backoff paces the passes that send failed writes again (a 409, a
 * webhook that refuses, a timeout): the first after `initial` seconds,
 * then twice as long each time up to `max`, back to `initial` once a write
 * succeeds.  Failures that arrive within the current delay (a pass's
 * writes fail together) count once, so a burst of failures does not jump
 * to the longest wait.  A write that keeps failing is tried once every
 * `max` seconds, never in a loop.
 */
struct k8s_backoff {
	double initial, max;
	double delay;       /* the last delay given; 0: none since a success */
	double last;        /* when it was given */
};

void k8s_backoff_init(struct k8s_backoff *b, double initial, double max);
/* A write failed at `now`: the seconds to wait before trying again. */
double k8s_backoff_failed(struct k8s_backoff *b, double now);
/* A write succeeded: the next failure waits `initial` again. */
void k8s_backoff_succeeded(struct k8s_backoff *b);

#endif
