/* Configuration and allocator metrics (see alloc_metrics.h). */
#include "alloc/alloc_metrics.h"

#include <jansson.h>
#include <stdlib.h>

void alloc_metrics_register_config(struct alloc_metrics *am, struct metrics_registry *reg)
{
	am->config_loaded = metrics_family_add(reg, "metallb_k8s_client_config_loaded_bool",
					       "1 if the configuration was loaded at least once.",
					       METRICS_GAUGE, NULL);
	am->config_stale = metrics_family_add(reg, "metallb_k8s_client_config_stale_bool",
					      "1 if running on a stale configuration, because the "
					      "latest configuration failed to load.",
					      METRICS_GAUGE, NULL);
	am->updates = metrics_family_add(reg, "metallb_k8s_client_updates_total",
					 "Number of configuration updates processed.",
					 METRICS_COUNTER, NULL);
	am->update_errors = metrics_family_add(reg, "metallb_k8s_client_update_errors_total",
					       "Number of configuration updates that failed.",
					       METRICS_COUNTER, NULL);
}

void alloc_metrics_register(struct alloc_metrics *am, struct metrics_registry *reg)
{
	static const char *const pool_l[] = {"pool", NULL};
	alloc_metrics_register_config(am, reg);
	am->total = metrics_family_add(reg, "metallb_allocator_addresses_total",
				       "Number of usable IP addresses, per pool.", METRICS_GAUGE,
				       pool_l);
	am->in_use = metrics_family_add(reg, "metallb_allocator_addresses_in_use_total",
					"Number of IP addresses in use, per pool.", METRICS_GAUGE,
					pool_l);
	am->total4 = metrics_family_add(reg, "metallb_allocator_ipv4_addresses_total",
					"Number of usable IPv4 addresses, per pool.", METRICS_GAUGE,
					pool_l);
	am->total6 = metrics_family_add(reg, "metallb_allocator_ipv6_addresses_total",
					"Number of usable IPv6 addresses, per pool.", METRICS_GAUGE,
					pool_l);
	am->in_use4 = metrics_family_add(reg, "metallb_allocator_ipv4_addresses_in_use_total",
					 "Number of IPv4 addresses in use, per pool.",
					 METRICS_GAUGE, pool_l);
	am->in_use6 = metrics_family_add(reg, "metallb_allocator_ipv6_addresses_in_use_total",
					 "Number of IPv6 addresses in use, per pool.",
					 METRICS_GAUGE, pool_l);
}

void alloc_metrics_update_pools(const struct alloc_metrics *am, const struct alloc *a)
{
	metrics_family_clear(am->total);
	metrics_family_clear(am->in_use);
	metrics_family_clear(am->total4);
	metrics_family_clear(am->total6);
	metrics_family_clear(am->in_use4);
	metrics_family_clear(am->in_use6);
	struct alloc_pool_stats *ps = NULL;
	size_t nps = alloc_pool_stats(a, &ps);
	for (size_t i = 0; i < nps; i++) {
		const char *l[] = {ps[i].name};
		/* The whole IPv6 space (2^128) does not fit; the largest value
		 * that does stands for it. */
		u128 t6 = ps[i].total_v6_overflow ? ~(u128)0 : ps[i].total_v6;
		metrics_set_u128(am->total, l, ps[i].total_v4 + t6);
		metrics_set_u128(am->in_use, l, ps[i].in_use_v4 + ps[i].in_use_v6);
		metrics_set_u128(am->total4, l, ps[i].total_v4);
		metrics_set_u128(am->total6, l, t6);
		metrics_set_u128(am->in_use4, l, ps[i].in_use_v4);
		metrics_set_u128(am->in_use6, l, ps[i].in_use_v6);
	}
	free(ps);
}

/* The whole IPv6 space holds 2^128 addresses, one more than a u128 holds:
 * spell the total out, and compute what is available as (2^128 - 1 -
 * used) + 1, exact while anything is in use. */
static json_t *family_json(u128 total, u128 used, bool full_space)
{
	char t[U128_STR_MAX], u[U128_STR_MAX], av[U128_STR_MAX];
	u128_format(used, u);
	if (!full_space) {
		u128_format(total, t);
		u128_format(total - used, av);
		return json_pack("{s:s, s:s, s:s}", "total", t, "in_use", u, "available", av);
	}
	static const char two_128[] = "340282366920938463463374607431768211456";
	if (used == 0)
		return json_pack("{s:s, s:s, s:s}", "total", two_128, "in_use", u, "available",
				 two_128);
	u128_format(~(u128)0 - used + 1, av);
	return json_pack("{s:s, s:s, s:s}", "total", two_128, "in_use", u, "available", av);
}

json_t *alloc_pools_json(const struct alloc *a)
{
	json_t *pools = json_array();
	struct alloc_pool_stats *ps = NULL;
	size_t nps = alloc_pool_stats(a, &ps);
	for (size_t i = 0; i < nps; i++) {
		json_t *p = json_pack("{s:s}", "name", ps[i].name);
		if (ps[i].total_v4)
			json_object_set_new(p, "ipv4",
					    family_json(ps[i].total_v4, ps[i].in_use_v4, false));
		if (ps[i].total_v6 || ps[i].total_v6_overflow)
			json_object_set_new(p, "ipv6",
					    family_json(ps[i].total_v6, ps[i].in_use_v6,
							ps[i].total_v6_overflow));
		json_array_append_new(pools, p);
	}
	free(ps);
	return pools;
}
