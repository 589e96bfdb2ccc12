/*
 * What model_add() and model_validate() put into the typed objects:
 * MetalLB's defaults, derived timers, parsed addresses, resolved
 * references, and the small queries on objects (service_families,
 * bgppeer_is_ibgp, which pools an advertisement covers).
 */
#include "test_model_helpers.h"

static struct loaded *load_ok(const char *yaml)
{
	struct loaded *l = xmalloc(sizeof(*l));
	load_yaml(l, NULL, yaml, true);
	if (diag_count(&l->d, DIAG_ERROR) != 0)
		print_diags(&l->d);
	assert_int_equal(diag_count(&l->d, DIAG_ERROR), 0);
	return l;
}

static void done(struct loaded *l)
{
	unload(l);
	free(l);
}

static void assert_ip(const struct ip_addr *a, const char *want)
{
	char buf[IP_STR_MAX];
	assert_string_equal(ip_format(a, buf), want);
}

/* ------------------------------------------------------------------ */

static void test_pool_defaults(void **state)
{
	(void)state;
	struct loaded *l = load_ok(POOL("p") "  addresses:\n  - 10.0.0.0/24\n"
				   "  - 10.1.0.10-10.1.0.20\n  - \"2001:db8::/64\"\n"
				   "---\n" POOL("q") "  addresses: [10.2.0.0/24]\n"
				   "  autoAssign: false\n  avoidBuggyIPs: true\n"
				   "  serviceAllocation:\n    priority: 3\n"
				   "    namespaces: [a, b]\n"
				   "    namespaceSelectors: [{matchLabels: {team: x}}]\n"
				   "    serviceSelectors: [{matchLabels: {app: y}}]\n");
	const struct pool *p = model_find_pool(&l->m, "p");
	assert_non_null(p);
	assert_true(p->auto_assign);
	assert_false(p->avoid_buggy_ips);
	assert_false(p->has_service_allocation);
	assert_int_equal(p->nranges, 3);
	char buf[IP_STR_MAX];
	assert_string_equal(ip_range_format(&p->ranges[0], buf), "10.0.0.0/24");
	assert_string_equal(ip_range_format(&p->ranges[1], buf), "10.1.0.10-10.1.0.20");
	assert_string_equal(ip_range_format(&p->ranges[2], buf), "2001:db8::/64");
	assert_string_equal(p->meta.namespace_, "metallb-system");
	assert_string_equal(p->meta.display, "IPAddressPool metallb-system/p");
	assert_string_equal(p->meta.file, "pools.yaml");
	assert_int_equal(p->meta.line, 1);
	assert_false(p->meta.invalid);

	const struct pool *q = model_find_pool(&l->m, "q");
	assert_false(q->auto_assign);
	assert_true(q->avoid_buggy_ips);
	assert_true(q->has_service_allocation);
	assert_int_equal(q->priority, 3);
	assert_int_equal(q->nnamespaces, 2);
	assert_string_equal(q->namespaces[1], "b");
	assert_int_equal(q->nns_selectors, 1);
	assert_string_equal(labels_get(&q->ns_selectors[0].match_labels, "team"), "x");
	assert_int_equal(q->nsvc_selectors, 1);
	assert_null(model_find_pool(&l->m, "r"));
	done(l);
}

/* An invalid entry is reported and left out; range_entry keeps the
 * positions of the others. */
static void test_pool_range_entry(void **state)
{
	(void)state;
	struct loaded l;
	load_yaml(&l, NULL, POOL("p") "  addresses: [10.0.0.0/24, bogus, 10.0.1.0/24]\n", true);
	const struct pool *p = &l.m.pools[0];
	assert_true(p->meta.invalid);
	assert_int_equal(p->nranges, 2);
	assert_int_equal(p->range_entry[0], 0);
	assert_int_equal(p->range_entry[1], 2);
	unload(&l);
}

static void test_peer_timers(void **state)
{
	(void)state;
	struct {
		const char *fields;
		uint32_t hold, keepalive, connect;
		bool has_hold, has_keepalive;
	} rows[] = {
		{"", 90, 30, 10, false, false},
		{"  holdTime: 9s\n", 9, 3, 10, true, false},
		{"  holdTime: 10s\n", 10, 3, 10, true, false},
		{"  keepaliveTime: 30s\n", 90, 30, 10, false, true},
		{"  holdTime: 1m30s\n  keepaliveTime: 20s\n", 90, 20, 10, true, true},
		{"  holdTime: 0s\n", 0, 0, 10, true, false},
		{"  holdTime: \"0\"\n  keepaliveTime: 0s\n", 0, 0, 10, true, true},
		{"  holdTime: 0.05m\n", 3, 1, 10, true, false},
		{"  holdTime: 1h\n  connectTime: 5s\n", 3600, 1200, 5, true, false},
		{"  holdTime: 3000ms\n  connectTime: 1m\n", 3, 1, 60, true, false},
		{"  holdTime: +18h12m15s\n", 65535, 21845, 10, true, false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char *y = xasprintf(PEER("p") "  myASN: 64500\n  peerASN: 64501\n"
					      "  peerAddress: 10.0.0.1\n%s",
				    rows[i].fields);
		struct loaded *l = load_ok(y);
		const struct bgppeer *p = model_find_peer(&l->m, "p");
		assert_non_null(p);
		assert_int_equal(p->hold_time_s, rows[i].hold);
		assert_int_equal(p->keepalive_time_s, rows[i].keepalive);
		assert_int_equal(p->connect_time_s, rows[i].connect);
		assert_int_equal(p->has_hold_time, rows[i].has_hold);
		assert_int_equal(p->has_keepalive_time, rows[i].has_keepalive);
		assert_int_equal(p->has_connect_time, rows[i].connect != 10);
		done(l);
		free(y);
	}
}

static void test_peer_fields(void **state)
{
	(void)state;
	struct loaded *l = load_ok(
		PEER("a") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: \"2001:db8::1\"\n"
			  "  sourceAddress: \"2001:db8::2\"\n  routerID: 10.0.0.9\n"
			  "  peerPort: 1790\n  vrf: red\n  ebgpMultiHop: true\n"
			  "  enableGracefulRestart: true\n  disableMP: true\n"
			  "  dualStackAddressFamily: true\n  localASN: 65000\n"
			  "  nodeSelectors: [{matchLabels: {rack: r1}}]\n  password: pw\n"
			  "  bfdProfile: b\n"
		"---\n" PEER1("b") "  myASN: 64500\n  peerASN: 64500\n  peerAddress: 10.0.0.1\n"
				   "  peerPort: 0\n"
		"---\n" PEER("c") "  myASN: 4200000000\n  dynamicASN: internal\n"
				  "  interface: eth1\n"
		"---\n" PEER("d") "  myASN: 64500\n  dynamicASN: external\n"
				  "  peerAddress: 10.0.0.4\n"
		"---\n" BFD("b") "  echoMode: false\n");
	const struct bgppeer *a = model_find_peer(&l->m, "a");
	assert_int_equal(a->my_asn, 64500);
	assert_int_equal(a->peer_asn, 64501);
	assert_int_equal(a->dynamic_asn, DYNAMIC_ASN_NONE);
	assert_int_equal(a->local_asn, 65000);
	assert_true(a->has_peer_address);
	assert_ip(&a->peer_address, "2001:db8::1");
	assert_true(a->has_source_address);
	assert_ip(&a->source_address, "2001:db8::2");
	assert_true(a->has_router_id);
	assert_ip(&a->router_id, "10.0.0.9");
	assert_int_equal(a->peer_port, 1790);
	assert_string_equal(a->vrf, "red");
	assert_true(a->ebgp_multihop);
	assert_true(a->enable_graceful_restart);
	assert_true(a->disable_mp);
	assert_true(a->dual_stack_address_family);
	assert_int_equal(a->nnode_selectors, 1);
	assert_string_equal(a->password, "pw");
	assert_string_equal(a->resolved_password, "pw");
	assert_string_equal(a->bfd_profile, "b");
	assert_ptr_equal(a->bfd, model_find_bfdprofile(&l->m, "b"));
	assert_false(a->is_v1beta1);
	/* localASN 65000 differs from peerASN 64501: eBGP */
	assert_false(bgppeer_is_ibgp(a));

	const struct bgppeer *b = model_find_peer(&l->m, "b");
	assert_true(b->is_v1beta1);
	assert_int_equal(b->peer_port, 179);
	assert_true(bgppeer_is_ibgp(b));
	assert_null(b->resolved_password);
	assert_null(b->bfd);

	const struct bgppeer *c = model_find_peer(&l->m, "c");
	assert_int_equal(c->my_asn, 4200000000u);
	assert_int_equal(c->dynamic_asn, DYNAMIC_ASN_INTERNAL);
	assert_false(c->has_peer_address);
	assert_string_equal(c->interface, "eth1");
	assert_true(bgppeer_is_ibgp(c));

	const struct bgppeer *d = model_find_peer(&l->m, "d");
	assert_false(bgppeer_is_ibgp(d));
	done(l);
}

static void test_peer_secret(void **state)
{
	(void)state;
	struct loaded *l = load_ok(
		PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
			  "  passwordSecret:\n    name: bgp\n"
		"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: bgp\n"
		"  namespace: metallb-system\ntype: kubernetes.io/basic-auth\n"
		"data:\n  password: eW91ci1zZWN1cmUtcGFzc3dvcmQ=\n  username: YWRtaW4=\n");
	const struct bgppeer *p = model_find_peer(&l->m, "p");
	assert_string_equal(p->password_secret_name, "bgp");
	assert_null(p->password_secret_namespace);
	assert_null(p->password);
	assert_string_equal(p->resolved_password, "your-secure-password");
	done(l);
}

static void test_bfd_defaults(void **state)
{
	(void)state;
	struct loaded *l = load_ok(BFD("d") "  echoMode: false\n---\n" BFD("e")
				   "  receiveInterval: 100\n  transmitInterval: 200\n"
				   "  detectMultiplier: 5\n  echoInterval: 20\n  echoMode: true\n"
				   "  passiveMode: true\n  minimumTtl: 10\n");
	const struct bfdprofile *d = model_find_bfdprofile(&l->m, "d");
	assert_int_equal(d->receive_interval_ms, 300);
	assert_int_equal(d->transmit_interval_ms, 300);
	assert_int_equal(d->detect_multiplier, 3);
	assert_int_equal(d->echo_interval_ms, 50);
	assert_false(d->echo_mode);
	assert_false(d->passive_mode);
	assert_int_equal(d->minimum_ttl, 254);
	const struct bfdprofile *e = model_find_bfdprofile(&l->m, "e");
	assert_int_equal(e->receive_interval_ms, 100);
	assert_int_equal(e->transmit_interval_ms, 200);
	assert_int_equal(e->detect_multiplier, 5);
	assert_int_equal(e->echo_interval_ms, 20);
	assert_true(e->echo_mode);
	assert_true(e->passive_mode);
	assert_int_equal(e->minimum_ttl, 10);
	done(l);
}

static void test_advertisements(void **state)
{
	(void)state;
	struct loaded *l = load_ok(
		BGPADV("a") "  communities: [primary, \"64500:100\", large:1:2:3]\n"
			    "  localPref: 50\n  peers: [x]\n"
			    "  ipAddressPoolSelectors: [{matchLabels: {env: prod}}]\n"
		"---\n" BGPADV("b") "  ipAddressPools: [q]\n"
		"---\n" L2ADV("l") "  interfaces: [eth0, bond0.100]\n"
				   "  nodeSelectors: [{matchLabels: {l2: \"yes\"}}]\n"
				   "  preferredNodeSelectors:\n  - weight: 30\n"
				   "    preference: {matchLabels: {rack: r1}}\n"
		"---\n" L2ADV("all") "  interfaces: []\n"
		"---\n" COMMUNITY("c") "  communities:\n  - name: primary\n    value: \"65000:1\"\n"
		"---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n"
		"  labels: {env: prod}\nspec:\n  addresses: [10.0.0.0/24]\n"
		"---\n" POOL("q") "  addresses: [10.0.1.0/24]\n"
		"---\n" PEER("x") "  myASN: 64500\n  peerASN: 64500\n  peerAddress: 10.0.0.1\n"
		"---\n" PEER("y") "  myASN: 64500\n  peerASN: 64500\n  peerAddress: 10.0.0.2\n");
	const struct bgpadv *a = &l->m.bgpadvs[0];
	assert_int_equal(a->aggregation_length, 32);
	assert_int_equal(a->aggregation_length_v6, 128);
	assert_true(a->has_local_pref);
	assert_int_equal(a->local_pref, 50);
	assert_int_equal(a->ncommunities, 3);
	assert_int_equal(a->community_values[0].kind, COMMUNITY_STANDARD);
	assert_int_equal(a->community_values[0].a, 65000);
	assert_int_equal(a->community_values[0].b, 1);
	assert_int_equal(a->community_values[1].a, 64500);
	assert_int_equal(a->community_values[1].b, 100);
	assert_int_equal(a->community_values[2].kind, COMMUNITY_LARGE);
	assert_int_equal(a->community_values[2].c, 3);

	const struct pool *p = model_find_pool(&l->m, "p"), *q = model_find_pool(&l->m, "q");
	const struct bgpadv *b = &l->m.bgpadvs[1];
	assert_true(bgpadv_selects_pool(a, p));
	assert_false(bgpadv_selects_pool(a, q));
	assert_false(bgpadv_selects_pool(b, p));
	assert_true(bgpadv_selects_pool(b, q));
	assert_true(bgpadv_selects_peer(a, model_find_peer(&l->m, "x")));
	assert_false(bgpadv_selects_peer(a, model_find_peer(&l->m, "y")));
	assert_true(bgpadv_selects_peer(b, model_find_peer(&l->m, "y")));
	assert_false(b->has_local_pref);

	const struct l2adv *l2 = &l->m.l2advs[0];
	assert_int_equal(l2->ninterfaces, 2);
	assert_string_equal(l2->interfaces[1], "bond0.100");
	assert_int_equal(l2->npreferred_nodes, 1);
	assert_int_equal(l2->preferred_nodes[0].weight, 30);
	assert_string_equal(labels_get(&l2->preferred_nodes[0].preference.match_labels, "rack"),
			    "r1");
	assert_true(l2adv_selects_pool(l2, p));
	assert_true(l2adv_selects_pool(&l->m.l2advs[1], q));
	assert_int_equal(l->m.l2advs[1].ninterfaces, 0);

	struct community_value v;
	assert_int_equal(model_resolve_community(&l->m, "primary", &v), 0);
	assert_int_equal(v.a, 65000);
	assert_int_equal(model_resolve_community(&l->m, "secondary", &v), -1);
	assert_int_equal(model_resolve_community(&l->m, "1:2", &v), 0);
	assert_int_equal(v.b, 2);
	assert_int_equal(model_resolve_community(&l->m, "1:99999", &v), -1);
	done(l);
}

/* ------------------------------------------------------------------ */
/* Services */

static void test_service_fields(void **state)
{
	(void)state;
	struct loaded *l = load_ok(
		SVC("a") "  namespace: shop\n  annotations:\n"
			 "    metallb.universe.tf/address-pool: \" v4 , v6 \"\n"
			 "    metallb.universe.tf/loadBalancerIPs: \"2001:db8:1::50, 192.168.100.50\"\n"
			 "    metallb.io/allow-shared-ip: web\n"
		"spec:\n  type: LoadBalancer\n  loadBalancerClass: example.com/lb\n"
		"  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv6, IPv4]\n"
		"  clusterIPs: [\"fd00::10\", 10.96.0.10]\n  externalTrafficPolicy: Local\n"
		"  selector: {app: shop}\n"
		"  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n"
		"  - port: 53\n    protocol: UDP\n"
		"status:\n  loadBalancer:\n    ingress:\n    - ip: \"2001:db8:1::50\"\n"
		"    - ip: 192.168.100.50\n    - hostname: lb.example.com\n"
		"---\n" SVC("b") "spec:\n  type: ClusterIP\n"
		"---\n" SVC("c") "  annotations:\n    metallb.io/loadBalancerIPs: 192.168.100.60\n"
		"    metallb.universe.tf/loadBalancerIPs: 192.168.100.61\n"
		"spec:\n  type: LoadBalancer\n  loadBalancerIP: \"\"\n"
		"---\n" POOL("v4") "  addresses: [192.168.100.0/24]\n"
		"---\n" POOL("v6") "  addresses: [\"2001:db8:1::/64\"]\n");
	const struct service *a = &l->m.services[0];
	assert_string_equal(a->meta.display, "Service shop/a");
	/* the name is the end of the display's block */
	assert_string_equal(a->meta.name, "a");
	assert_true(a->meta.name_in_display);
	assert_ptr_equal(a->meta.name, a->meta.display + strlen("Service shop/"));
	assert_true(service_is_load_balancer(a));
	assert_string_equal(a->lb_class, "example.com/lb");
	assert_int_equal(a->policy, POLICY_REQUIRE_DUAL_STACK);
	assert_true(a->has_policy);
	assert_int_equal(a->nfamilies, 2);
	assert_int_equal(a->families[0], IP_FAMILY_V6);
	assert_int_equal(a->ncluster_ips, 2);
	assert_ip(&a->cluster_ips[0], "fd00::10");
	assert_string_equal(a->external_traffic_policy, "Local");
	assert_string_equal(labels_get(&a->selector, "app"), "shop");
	assert_int_equal(a->nports, 2);
	assert_string_equal(a->ports[0].name, "http");
	assert_string_equal(a->ports[0].protocol, "TCP");
	assert_int_equal(a->ports[0].port, 80);
	assert_string_equal(a->ports[1].protocol, "UDP");
	assert_null(a->ports[1].name);
	assert_int_equal(a->nrequested, 2);
	assert_ip(&a->requested[0], "2001:db8:1::50");
	assert_ip(&a->requested[1], "192.168.100.50");
	assert_false(a->request_invalid);
	assert_int_equal(a->npool_names, 2);
	assert_string_equal(a->pool_names[0], "v4");
	assert_string_equal(a->pool_names[1], "v6");
	assert_string_equal(a->sharing_key, "web");
	assert_int_equal(a->ningress, 2);
	assert_ip(&a->ingress[1], "192.168.100.50");

	const struct service *b = &l->m.services[1];
	assert_string_equal(b->meta.namespace_, "default");
	assert_false(service_is_load_balancer(b));
	assert_string_equal(b->external_traffic_policy, "Cluster");
	assert_int_equal(b->policy, POLICY_SINGLE_STACK);
	assert_false(b->has_policy);

	/* metallb.io/ wins (with a warning); an empty loadBalancerIP is unset */
	const struct service *c = &l->m.services[2];
	assert_int_equal(c->nrequested, 1);
	assert_ip(&c->requested[0], "192.168.100.60");
	assert_int_equal(diag_count(&l->d, DIAG_WARNING), 1);
	done(l);
}

static void test_service_request_invalid(void **state)
{
	(void)state;
	struct loaded l;
	load_yaml(&l, NULL,
		  SVC("a") "  annotations:\n    metallb.io/loadBalancerIPs: 10.0.0.1,10.0.0.x\n"
			   "spec:\n  type: LoadBalancer\n",
		  true);
	assert_true(l.m.services[0].request_invalid);
	assert_int_equal(l.m.services[0].nrequested, 0);
	assert_true(l.m.services[0].meta.invalid);
	unload(&l);
}

static void test_service_families(void **state)
{
	(void)state;
	struct {
		const char *spec;
		size_t n;
		enum ip_family f0, f1;
	} rows[] = {
		{"  type: LoadBalancer\n", 1, IP_FAMILY_V4, IP_FAMILY_NONE},
		{"  ipFamilyPolicy: PreferDualStack\n", 2, IP_FAMILY_V4, IP_FAMILY_V6},
		{"  ipFamilyPolicy: RequireDualStack\n", 2, IP_FAMILY_V4, IP_FAMILY_V6},
		{"  ipFamilies: [IPv6]\n", 1, IP_FAMILY_V6, IP_FAMILY_NONE},
		{"  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv6, IPv4]\n", 2, IP_FAMILY_V6,
		 IP_FAMILY_V4},
		{"  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv4]\n", 1, IP_FAMILY_V4,
		 IP_FAMILY_NONE},
		{"  clusterIP: \"fd00::1\"\n", 1, IP_FAMILY_V6, IP_FAMILY_NONE},
		{"  ipFamilyPolicy: PreferDualStack\n  clusterIPs: [\"fd00::1\", 10.96.0.1]\n", 2,
		 IP_FAMILY_V6, IP_FAMILY_V4},
		{"  clusterIP: None\n", 1, IP_FAMILY_V4, IP_FAMILY_NONE},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char *y = xasprintf(SVC("s") "spec:\n%s", rows[i].spec);
		struct loaded *l = load_ok(y);
		enum ip_family f[2] = {IP_FAMILY_NONE, IP_FAMILY_NONE};
		size_t n = service_families(&l->m.services[0], f);
		if (n != rows[i].n || f[0] != rows[i].f0 || (n > 1 && f[1] != rows[i].f1))
			fail_msg("row %zu: got %zu families %d %d", i, n, f[0], f[1]);
		done(l);
		free(y);
	}
	assert_string_equal(ip_family_policy_name(POLICY_SINGLE_STACK), "SingleStack");
	assert_string_equal(ip_family_policy_name(POLICY_PREFER_DUAL_STACK), "PreferDualStack");
	assert_string_equal(ip_family_policy_name(POLICY_REQUIRE_DUAL_STACK), "RequireDualStack");
}

/* ------------------------------------------------------------------ */
/* Node, Namespace, Secret, EndpointSlice */

static void test_cluster_kinds(void **state)
{
	(void)state;
	struct loaded *l = load_ok(
		"apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  namespace: ignored\n"
		"  labels:\n    node.kubernetes.io/exclude-from-external-load-balancers: \"\"\n"
		"status:\n  conditions:\n  - type: Ready\n    status: \"True\"\n"
		"  - type: NetworkUnavailable\n    status: \"True\"\n"
		"  addresses:\n  - type: InternalIP\n    address: 10.0.0.11\n"
		"  - type: InternalIP\n    address: \"fd00::11\"\n  - type: Hostname\n"
		"    address: n1\n"
		"---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n2\nstatus:\n  conditions:\n"
		"  - type: NetworkUnavailable\n    status: \"False\"\n"
		"---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n3\nstatus:\n  conditions:\n"
		"  - type: Ready\n    status: \"False\"\n"
		"---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n4\nstatus:\n  conditions:\n"
		"  - type: Ready\n    status: Unknown\n"
		"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
		"  labels: {team: a}\n"
		"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: \"\"\n"
		"data:\n  a: YWJj\n  b: \"\"\n  c:\nstringData:\n  a: override\n"
		"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: e1\n"
		"  namespace: shop\n  labels:\n    kubernetes.io/service-name: a\n"
		"addressType: IPv6\nendpoints:\n"
		"- addresses: [\"fd00::1\"]\n  nodeName: n1\n"
		"- addresses: [\"fd00::2\"]\n  conditions: {ready: false}\n"
		"- addresses: [\"fd00::3\"]\n  conditions: {ready: false, serving: true}\n"
		"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: e2\n"
		"addressType: FQDN\nendpoints:\n- addresses: [example.com]\n");
	const struct node_obj *n1 = model_find_node(&l->m, "n1");
	assert_non_null(n1);
	assert_null(n1->meta.namespace_);
	assert_string_equal(n1->meta.display, "Node n1");
	assert_true(n1->excluded);
	assert_true(n1->network_unavailable);
	assert_int_equal(n1->naddresses, 2);
	assert_ip(&n1->addresses[1], "fd00::11");
	const struct node_obj *n2 = model_find_node(&l->m, "n2");
	assert_false(n2->excluded);
	assert_false(n2->network_unavailable);
	/* Ready: True, absent (a standalone manifest), False, Unknown. */
	assert_false(n1->not_ready);
	assert_false(n2->not_ready);
	assert_true(model_find_node(&l->m, "n3")->not_ready);
	assert_true(model_find_node(&l->m, "n4")->not_ready);

	const struct namespace_obj *ns = model_find_namespace(&l->m, "shop");
	assert_non_null(ns);
	assert_string_equal(labels_get(&ns->meta.labels, "team"), "a");

	const struct secret *s = model_find_secret(&l->m, "default", "s");
	assert_non_null(s);
	assert_null(model_find_secret(&l->m, "metallb-system", "s"));
	assert_string_equal(s->type, "Opaque");
	assert_int_equal(s->ndata, 3);
	assert_string_equal(s->data[0].key, "a");
	assert_int_equal(s->data[0].len, 8);
	assert_memory_equal(s->data[0].value, "override", 8);
	assert_int_equal(s->data[1].len, 0);
	assert_int_equal(s->data[2].len, 0);

	const struct endpointslice *e1 = &l->m.slices[0];
	assert_string_equal(e1->service_name, "a");
	assert_int_equal(e1->address_type, IP_FAMILY_V6);
	assert_int_equal(e1->nendpoints, 3);
	assert_true(e1->endpoints[0].ready);
	assert_true(e1->endpoints[0].serving);
	assert_string_equal(e1->endpoints[0].node_name, "n1");
	assert_false(e1->endpoints[1].ready);
	assert_false(e1->endpoints[1].serving);
	assert_false(e1->endpoints[2].ready);
	assert_true(e1->endpoints[2].serving);
	const struct endpointslice *e2 = &l->m.slices[1];
	assert_null(e2->service_name);
	assert_int_equal(e2->address_type, IP_FAMILY_NONE);
	assert_int_equal(e2->endpoints[0].naddresses, 0);
	done(l);
}

static void test_base64(void **state)
{
	(void)state;
	struct {
		const char *in;
		const char *out; /* NULL: invalid */
	} rows[] = {
		{"", ""},         {"YQ==", "a"},     {"YWI=", "ab"},   {"YWJj", "abc"},
		{"YW\\nJj", "abc"}, {"YQ", NULL},      {"YQ=", NULL},    {"Y===", NULL},
		{"YQ==YQ==", NULL}, {"YW Jj", NULL},  {"YQ=a", NULL},   {"////", "\xff\xff\xff"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char *y = xasprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
				    "data:\n  k: \"%s\"\n",
				    rows[i].in);
		struct loaded l;
		load_yaml(&l, NULL, y, true);
		const struct secret *s = &l.m.secrets[0];
		if (!rows[i].out) {
			if (diag_count(&l.d, DIAG_ERROR) != 1)
				fail_msg("row %zu (%s): expected an error", i, rows[i].in);
		} else {
			if (diag_count(&l.d, DIAG_ERROR) != 0 || s->ndata != 1 ||
			    s->data[0].len != strlen(rows[i].out) ||
			    memcmp(s->data[0].value, rows[i].out, s->data[0].len) != 0) {
				print_diags(&l.d);
				fail_msg("row %zu (%s): wrong value", i, rows[i].in);
			}
		}
		unload(&l);
		free(y);
	}
}

/* ------------------------------------------------------------------ */
/* namespaces and API objects */

static void test_config_namespace(void **state)
{
	(void)state;
	const char *yaml = POOL("p") "  addresses: [10.0.0.0/24]\n"
			   "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
			   "  name: q\n  namespace: lb\nspec:\n  addresses: [10.0.1.0/24]\n";
	struct manifest_set set = {0};
	struct diag_list d = {0};
	struct model m;
	manifest_read_buffer(&set, "x.yaml", yaml, strlen(yaml), &d);
	model_init(&m, "lb");
	for (size_t i = 0; i < set.n; i++) {
		model_add(&m, set.objects[i], &d);
		set.objects[i] = NULL;
	}
	model_validate(&m, &d);
	assert_int_equal(m.npools, 2);
	assert_non_null(model_find_pool(&m, "p"));
	assert_string_equal(model_find_pool(&m, "p")->meta.namespace_, "lb");
	assert_non_null(model_find_pool(&m, "q"));
	assert_int_equal(d.n, 0);
	model_free(&m);
	manifest_set_free(&set);
	diag_list_free(&d);
}

/* Objects from the API server carry no file: no position in diagnostics. */
static void test_api_objects(void **state)
{
	(void)state;
	struct tree *o = tree_new(TREE_OBJECT, NULL, 0);
	tree_object_set(o, "apiVersion", tree_new_string("metallb.io/v1beta1", NULL, 0));
	tree_object_set(o, "kind", tree_new_string("IPAddressPool", NULL, 0));
	struct tree *md = tree_new(TREE_OBJECT, NULL, 0);
	tree_object_set(md, "name", tree_new_string("p", NULL, 0));
	tree_object_set(md, "namespace", tree_new_string("metallb-system", NULL, 0));
	tree_object_set(md, "uid", tree_new_string("1234", NULL, 0));
	tree_object_set(md, "resourceVersion", tree_new_string("42", NULL, 0));
	tree_object_set(o, "metadata", md);
	struct tree *spec = tree_new(TREE_OBJECT, NULL, 0);
	struct tree *addrs = tree_new(TREE_ARRAY, NULL, 0);
	tree_array_append(addrs, tree_new_string("10.0.0.0/24", NULL, 0));
	tree_array_append(addrs, tree_new_string("10.0.0.300/24", NULL, 0));
	tree_object_set(spec, "addresses", addrs);
	tree_object_set(o, "spec", spec);

	struct model m;
	struct diag_list d = {0};
	model_init(&m, NULL);
	assert_int_equal(model_add(&m, o, &d), -1);
	assert_int_equal(d.n, 1);
	char *s = diag_format(&d.items[0]);
	assert_string_equal(s, "IPAddressPool metallb-system/p: spec.addresses[1]: "
			       "\"10.0.0.300/24\" is not an IPv4 prefix (octet 300 is above 255)");
	free(s);
	assert_string_equal(m.pools[0].meta.uid, "1234");
	assert_string_equal(m.pools[0].meta.resource_version, "42");
	assert_null(m.pools[0].meta.file);
	model_free(&m);
	diag_list_free(&d);
}

/* model_validate may run again on the same model (the daemon revalidates);
 * it replaces what it resolved instead of leaking it. */
static void test_validate_twice(void **state)
{
	(void)state;
	struct loaded *l = load_ok(
		PEER("p") "  myASN: 1\n  peerASN: 2\n  peerAddress: 10.0.0.1\n  password: x\n"
		"---\n" BGPADV("a") "  communities: [\"1:1\"]\n");
	assert_int_equal(model_validate(&l->m, &l->d), 0);
	assert_string_equal(l->m.peers[0].resolved_password, "x");
	assert_int_equal(l->m.bgpadvs[0].community_values[0].a, 1);
	done(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_defaults),
		cmocka_unit_test(test_pool_range_entry),
		cmocka_unit_test(test_peer_timers),
		cmocka_unit_test(test_peer_fields),
		cmocka_unit_test(test_peer_secret),
		cmocka_unit_test(test_bfd_defaults),
		cmocka_unit_test(test_advertisements),
		cmocka_unit_test(test_service_fields),
		cmocka_unit_test(test_service_request_invalid),
		cmocka_unit_test(test_service_families),
		cmocka_unit_test(test_cluster_kinds),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_config_namespace),
		cmocka_unit_test(test_api_objects),
		cmocka_unit_test(test_validate_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
