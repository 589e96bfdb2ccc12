/*
 * model_add() and model_validate(): every rule as a row of input YAML and
 * the exact diagnostics it must produce (diag_format, sorted by file and
 * line).  Rows without diagnostics show what must be accepted, starting
 * with the blocks of the dual-stack guide.
 */
#include "test_model_helpers.h"

#include "model/internal.h"

/* ------------------------------------------------------------------ */
/* the guide's blocks */

static const char guide_pools[] =
	"apiVersion: metallb.io/v1beta1\n"
	"kind: IPAddressPool\n"
	"metadata:\n"
	"  name: ipv4-pool\n"
	"  namespace: metallb-system\n"
	"spec:\n"
	"  addresses:\n"
	"  - 192.168.100.0/24\n"
	"  autoAssign: true\n"
	"---\n"
	"apiVersion: metallb.io/v1beta1\n"
	"kind: IPAddressPool\n"
	"metadata:\n"
	"  name: ipv6-pool\n"
	"  namespace: metallb-system\n"
	"spec:\n"
	"  addresses:\n"
	"  - 2001:db8:1::/64\n"
	"  autoAssign: true\n";

static const struct diag_case guide_cases[] = {
	{"guide: bad IPv6 prefix in best-practices pool",
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: IPAddressPool\n"
	 "metadata:\n"
	 "  name: best\n"
	 "  namespace: metallb-system\n"
	 "  labels:\n"
	 "    environment: production\n"
	 "spec:\n"
	 "  addresses:\n"
	 "  # Production IPv4: 126 usable addresses\n"
	 "  - 192.168.100.0/25\n"
	 "  - 2001:db8:prod::/64  # Production IPv6\n"
	 "  autoAssign: false\n"
	 "  avoidBuggyIPs: true\n",
	 WANT("pools.yaml:12: IPAddressPool metallb-system/best: spec.addresses[1]: "
	      "\"2001:db8:prod::/64\" is not an IPv6 prefix (hex digits only)")},

	{"guide: pools", guide_pools, NONE},

	{"guide: combined dual-stack pool and Service",
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: IPAddressPool\n"
	 "metadata:\n"
	 "  name: dual-stack-pool\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  addresses:\n"
	 "  - 192.168.100.100-192.168.100.150\n"
	 "  - 2001:db8:1::100-2001:db8:1::1ff\n"
	 "  autoAssign: true\n"
	 "---\n"
	 "apiVersion: v1\n"
	 "kind: Service\n"
	 "metadata:\n"
	 "  name: my-dual-stack-service\n"
	 "  namespace: default\n"
	 "  annotations:\n"
	 "    metallb.universe.tf/address-pool: dual-stack-pool\n"
	 "spec:\n"
	 "  type: LoadBalancer\n"
	 "  ipFamilyPolicy: PreferDualStack\n"
	 "  ipFamilies:\n"
	 "  - IPv4\n"
	 "  - IPv6\n"
	 "  selector:\n"
	 "    app: my-app\n"
	 "  ports:\n"
	 "  - name: http\n"
	 "    port: 80\n"
	 "    targetPort: 8080\n"
	 "    protocol: TCP\n",
	 NONE},

	{"guide: segmented pools, RequireDualStack Service, fixed IPs",
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: IPAddressPool\n"
	 "metadata:\n"
	 "  name: production-ipv4\n"
	 "  namespace: metallb-system\n"
	 "  labels:\n"
	 "    environment: production\n"
	 "    ip-version: ipv4\n"
	 "spec:\n"
	 "  addresses:\n"
	 "  - 192.168.100.0/25  # First half of /24 for production\n"
	 "  autoAssign: false   # Require explicit pool selection\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: IPAddressPool\n"
	 "metadata:\n"
	 "  name: production-ipv6\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  addresses:\n"
	 "  - 2001:db8:1::/65\n"
	 "  autoAssign: false\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: IPAddressPool\n"
	 "metadata:\n"
	 "  name: staging-ipv6\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  addresses:\n"
	 "  - \"2001:db8:1:0:8000::/65\"\n"
	 "  autoAssign: false\n"
	 "---\n"
	 "apiVersion: v1\n"
	 "kind: Service\n"
	 "metadata:\n"
	 "  name: critical-dual-stack-service\n"
	 "  namespace: default\n"
	 "  annotations:\n"
	 "    metallb.universe.tf/address-pool: production-ipv4,production-ipv6\n"
	 "spec:\n"
	 "  type: LoadBalancer\n"
	 "  ipFamilyPolicy: RequireDualStack\n"
	 "  ipFamilies:\n"
	 "  - IPv4\n"
	 "  - IPv6\n"
	 "  selector:\n"
	 "    app: critical-app\n"
	 "  ports:\n"
	 "  - port: 443\n"
	 "    targetPort: 8443\n"
	 "---\n"
	 "apiVersion: v1\n"
	 "kind: Service\n"
	 "metadata:\n"
	 "  name: fixed-ip-service\n"
	 "  namespace: default\n"
	 "  annotations:\n"
	 "    metallb.universe.tf/loadBalancerIPs: 192.168.100.50,2001:db8:1::50\n"
	 "spec:\n"
	 "  type: LoadBalancer\n"
	 "  ipFamilyPolicy: RequireDualStack\n"
	 "  ipFamilies:\n"
	 "  - IPv4\n"
	 "  - IPv6\n"
	 "  selector:\n"
	 "    app: static-app\n"
	 "  ports:\n"
	 "  - port: 80\n"
	 "    targetPort: 8080\n",
	 NONE},

	{"guide: L2 advertisements with interfaces",
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: L2Advertisement\n"
	 "metadata:\n"
	 "  name: dual-stack-l2\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  ipAddressPools:\n"
	 "  - ipv4-pool\n"
	 "  - ipv6-pool\n"
	 "  # nodeSelectors:\n"
	 "  # - matchLabels:\n"
	 "  #     node-role.kubernetes.io/loadbalancer: \"true\"\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: L2Advertisement\n"
	 "metadata:\n"
	 "  name: external-network-l2\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  ipAddressPools:\n"
	 "  - ipv4-pool\n"
	 "  - ipv6-pool\n"
	 "  interfaces:\n"
	 "  - eth0      # Primary external interface\n"
	 "  - bond0     # Bonded interface for redundancy\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: IPAddressPool\n"
	 "metadata:\n"
	 "  name: ipv4-pool\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  addresses:\n"
	 "  - 192.168.100.0/24\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: IPAddressPool\n"
	 "metadata:\n"
	 "  name: ipv6-pool\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  addresses:\n"
	 "  - 2001:db8:1::/64\n",
	 /* The guide's pools hand out what hurts on a LAN (warnings). */
	 WANT("pools.yaml:34: warning: IPAddressPool metallb-system/ipv4-pool: "
	      "spec.addresses[0]: \"192.168.100.0/24\" holds 2 addresses ending in .0 or .255 "
	      "(the first: 192.168.100.0), the network and broadcast addresses of /24s, which "
	      "some clients and CPE firmware drop, and L2Advertisement "
	      "metallb-system/dual-stack-l2 announces this pool on the LAN; avoidBuggyIPs: "
	      "true keeps them out of allocation",
	      "pools.yaml:43: warning: IPAddressPool metallb-system/ipv6-pool: "
	      "spec.addresses[0]: \"2001:db8:1::/64\" holds 2001:db8:1::, the Subnet-Router "
	      "anycast address of its /64 (RFC 4291 2.6.1), which routers on the link also "
	      "answer, and L2Advertisement metallb-system/dual-stack-l2 announces this pool on "
	      "the LAN; avoidBuggyIPs: true keeps it out of automatic allocation")},

	{"guide: BGP peers and advertisement with a community literal",
	 "apiVersion: metallb.io/v1beta2\n"
	 "kind: BGPPeer\n"
	 "metadata:\n"
	 "  name: router-ipv4\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  myASN: 64500        # Your cluster's Autonomous System Number\n"
	 "  peerASN: 64501      # Router's ASN\n"
	 "  peerAddress: 192.168.1.1  # Router's IPv4 address\n"
	 "  # sourceAddress: 192.168.1.10\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta2\n"
	 "kind: BGPPeer\n"
	 "metadata:\n"
	 "  name: router-ipv6\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  myASN: 64500\n"
	 "  peerASN: 64501\n"
	 "  peerAddress: \"2001:db8::1\"  # Router's IPv6 address\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: BGPAdvertisement\n"
	 "metadata:\n"
	 "  name: dual-stack-bgp-advertisement\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  ipAddressPools:\n"
	 "  - ipv4-pool\n"
	 "  - ipv6-pool\n"
	 "  peers:\n"
	 "  - router-ipv4\n"
	 "  - router-ipv6\n"
	 "  aggregationLength: 32    # For IPv4: advertise /32 routes\n"
	 "  aggregationLengthV6: 128 # For IPv6: advertise /128 routes\n"
	 "  communities:\n"
	 "  - 64500:100  # Custom community for identification\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: IPAddressPool\n"
	 "metadata:\n"
	 "  name: ipv4-pool\n"
	 "spec:\n"
	 "  addresses: [192.168.100.0/24]\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: IPAddressPool\n"
	 "metadata:\n"
	 "  name: ipv6-pool\n"
	 "spec:\n"
	 "  addresses: [\"2001:db8:1::/64\"]\n",
	 NONE},

	{"guide: advanced IPv6 peer with a literal password, BFD profile",
	 "apiVersion: metallb.io/v1beta2\n"
	 "kind: BGPPeer\n"
	 "metadata:\n"
	 "  name: router-ipv6-advanced\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  myASN: 64500\n"
	 "  peerASN: 64501\n"
	 "  peerAddress: \"2001:db8::1\"\n"
	 "  holdTime: 90s\n"
	 "  keepaliveTime: 30s\n"
	 "  bfdProfile: fast-detection\n"
	 "  nodeSelectors:\n"
	 "  - matchLabels:\n"
	 "      bgp-capable: \"true\"\n"
	 "  password: bgp-auth-secret\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: BFDProfile\n"
	 "metadata:\n"
	 "  name: fast-detection\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  receiveInterval: 300\n"
	 "  transmitInterval: 300\n"
	 "  detectMultiplier: 3\n"
	 "  echoMode: false\n"
	 "  passiveMode: false\n"
	 "  minimumTtl: 254\n",
	 NONE},

	{"guide: HA peers sharing a BFD profile",
	 "apiVersion: metallb.io/v1beta2\n"
	 "kind: BGPPeer\n"
	 "metadata:\n"
	 "  name: primary-router-ipv4\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  myASN: 64500\n"
	 "  peerASN: 64510\n"
	 "  peerAddress: 10.0.1.1\n"
	 "  bfdProfile: production-bfd\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta2\n"
	 "kind: BGPPeer\n"
	 "metadata:\n"
	 "  name: primary-router-ipv6\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  myASN: 64500\n"
	 "  peerASN: 64510\n"
	 "  peerAddress: \"2001:db8:1::1\"\n"
	 "  bfdProfile: production-bfd\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: BFDProfile\n"
	 "metadata:\n"
	 "  name: production-bfd\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  receiveInterval: 100\n"
	 "  transmitInterval: 100\n"
	 "  detectMultiplier: 3\n"
	 "  echoMode: false\n"
	 "  passiveMode: false\n",
	 NONE},

	{"guide: Opaque Secret and passwordSecret with a key",
	 "apiVersion: v1\n"
	 "kind: Secret\n"
	 "metadata:\n"
	 "  name: bgp-auth-secret\n"
	 "  namespace: metallb-system\n"
	 "type: Opaque\n"
	 "data:\n"
	 "  password: eW91ci1zZWN1cmUtcGFzc3dvcmQ=\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta2\n"
	 "kind: BGPPeer\n"
	 "metadata:\n"
	 "  name: secure-peer\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  myASN: 64500\n"
	 "  peerASN: 64510\n"
	 "  peerAddress: 10.0.1.1\n"
	 "  passwordSecret:\n"
	 "    name: bgp-auth-secret\n"
	 "    key: password\n"
	 "---\n"
	 "apiVersion: networking.k8s.io/v1\n"
	 "kind: NetworkPolicy\n"
	 "metadata:\n"
	 "  name: metallb-speaker-policy\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  podSelector:\n"
	 "    matchLabels:\n"
	 "      component: speaker\n",
	 WANT("pools.yaml:20: BGPPeer metallb-system/secure-peer: spec.passwordSecret.name: "
	      "Secret metallb-system/bgp-auth-secret has type \"Opaque\"; passwordSecret needs "
	      "type kubernetes.io/basic-auth with a \"password\" key",
	      "pools.yaml:21: BGPPeer metallb-system/secure-peer: spec.passwordSecret.key: "
	      "unknown field \"key\" (accepted: name, namespace)",
	      "pools.yaml:23: note: NetworkPolicy metallb-system/metallb-speaker-policy: skipped: "
	      "ironlb does not read NetworkPolicy objects")},

	{"guide: aggregationLengthV6 64 over a /64 pool, critical-ipv6-pool unknown",
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: BGPAdvertisement\n"
	 "metadata:\n"
	 "  name: aggregated-ipv6\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  ipAddressPools:\n"
	 "  - ipv6-pool\n"
	 "  aggregationLengthV6: 64\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: BGPAdvertisement\n"
	 "metadata:\n"
	 "  name: specific-ipv6\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  ipAddressPools:\n"
	 "  - critical-ipv6-pool\n"
	 "  aggregationLengthV6: 128\n"
	 "---\n" POOL("ipv4-pool") "  addresses: [192.168.100.0/24]\n"
	 "---\n" POOL("ipv6-pool") "  addresses: [\"2001:db8:1::/64\"]\n",
	 WANT("pools.yaml:18: BGPAdvertisement metallb-system/specific-ipv6: "
	      "spec.ipAddressPools[0]: unknown IPAddressPool \"critical-ipv6-pool\" (known: "
	      "ipv4-pool, ipv6-pool)")},

	{"guide: communities and localPref towards eBGP peers",
	 PEER("tor1-ipv4") "  myASN: 64500\n  peerASN: 64510\n  peerAddress: 10.0.1.1\n"
			   "  ebgpMultiHop: true\n  sourceAddress: 10.0.1.10\n"
	 "---\n" PEER("tor1-ipv6") "  myASN: 64500\n  peerASN: 64510\n"
				   "  peerAddress: \"2001:db8:1::1\"\n  ebgpMultiHop: true\n"
				   "  sourceAddress: \"2001:db8:1::10\"\n"
	 "---\n" PEER("tor2-ipv4") "  myASN: 64500\n  peerASN: 64520\n  peerAddress: 10.0.2.1\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: Community\n"
	 "metadata:\n"
	 "  name: traffic-engineering\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  communities:\n"
	 "  - name: primary-path\n"
	 "    value: \"64500:100\"\n"
	 "  - name: backup-path\n"
	 "    value: \"64500:200\"\n"
	 "  - name: no-export\n"
	 "    value: \"65535:65281\"\n"
	 "  - name: local-preference-high\n"
	 "    value: \"64500:1000\"\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: BGPAdvertisement\n"
	 "metadata:\n"
	 "  name: primary-advertisement\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  ipAddressPools:\n"
	 "  - production-ipv4\n"
	 "  peers:\n"
	 "  - tor1-ipv4\n"
	 "  - tor1-ipv6\n"
	 "  communities:\n"
	 "  - primary-path\n"
	 "  - local-preference-high\n"
	 "  localPref: 200\n"
	 "---\n"
	 "apiVersion: metallb.io/v1beta1\n"
	 "kind: BGPAdvertisement\n"
	 "metadata:\n"
	 "  name: backup-advertisement\n"
	 "  namespace: metallb-system\n"
	 "spec:\n"
	 "  ipAddressPools:\n"
	 "  - production-ipv4\n"
	 "  peers:\n"
	 "  - tor2-ipv4\n"
	 "  communities:\n"
	 "  - backup-path\n"
	 "  localPref: 100\n"
	 "---\n" POOL("production-ipv4") "  addresses: [192.168.100.0/25]\n",
	 WANT("pools.yaml:62: warning: BGPAdvertisement metallb-system/primary-advertisement: "
	      "spec.localPref: localPref 200 is sent only on iBGP sessions; peers tor1-ipv4, "
	      "tor1-ipv6 are eBGP",
	      "pools.yaml:76: warning: BGPAdvertisement metallb-system/backup-advertisement: "
	      "spec.localPref: localPref 100 is sent only on iBGP sessions; peer tor2-ipv4 is "
	      "eBGP")},

	{"guide: other kinds are skipped with a note",
	 "apiVersion: apps/v1\n"
	 "kind: Deployment\n"
	 "metadata:\n"
	 "  name: dual-stack-test\n"
	 "  namespace: default\n"
	 "spec:\n"
	 "  replicas: 2\n"
	 "---\n"
	 "apiVersion: monitoring.coreos.com/v1\n"
	 "kind: ServiceMonitor\n"
	 "metadata:\n"
	 "  name: metallb\n"
	 "  namespace: metallb-system\n"
	 "---\n"
	 "apiVersion: monitoring.coreos.com/v1\n"
	 "kind: PrometheusRule\n"
	 "metadata:\n"
	 "  name: metallb-dual-stack-alerts\n",
	 WANT("pools.yaml:1: note: Deployment default/dual-stack-test: skipped: ironlb does not "
	      "read Deployment objects",
	      "pools.yaml:9: note: ServiceMonitor metallb-system/metallb: skipped: ironlb does "
	      "not read ServiceMonitor objects",
	      "pools.yaml:15: note: PrometheusRule metallb-dual-stack-alerts: skipped: ironlb "
	      "does not read PrometheusRule objects")},

	{"guide: IP family policy examples",
	 SVC("ipv4-only-service") "spec:\n  type: LoadBalancer\n  ipFamilyPolicy: SingleStack\n"
				  "  ipFamilies:\n  - IPv4\n  ports:\n  - port: 80\n"
	 "---\n" SVC("ipv6-only-service") "spec:\n  type: LoadBalancer\n"
					  "  ipFamilyPolicy: SingleStack\n  ipFamilies:\n  - IPv6\n"
	 "---\n" SVC("prefer-dual-ipv6-primary") "spec:\n  type: LoadBalancer\n"
						 "  ipFamilyPolicy: PreferDualStack\n"
						 "  ipFamilies:\n  - IPv6  # Primary family\n"
						 "  - IPv4\n"
	 "---\n" SVC("require-dual-stack") "spec:\n  type: LoadBalancer\n"
					   "  ipFamilyPolicy: RequireDualStack\n"
					   "  ipFamilies:\n  - IPv4\n  - IPv6\n",
	 NONE},
};

static void test_guide(void **state)
{
	(void)state;
	run_diag_cases(guide_cases, ARRAY_SIZE(guide_cases));
}

/* ------------------------------------------------------------------ */
/* identification, metadata, strictness */

static const struct diag_case decode_cases[] = {
	{"metallb.io kind with a version MetalLB does not serve",
	 HDR("metallb.io/v1", "IPAddressPool", "p") "  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:1: apiVersion: \"metallb.io/v1\" is not served for IPAddressPool "
	      "(served: metallb.io/v1beta1)")},
	{"BGPPeer serves two versions",
	 HDR("metallb.io/v1alpha1", "BGPPeer", "p") "  myASN: 1\n",
	 WANT("pools.yaml:1: apiVersion: \"metallb.io/v1alpha1\" is not served for BGPPeer "
	      "(served: metallb.io/v1beta2, metallb.io/v1beta1)")},
	{"MetalLB kind with a core apiVersion",
	 HDR("v1", "IPAddressPool", "p") "  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:1: apiVersion: \"v1\" is not served for IPAddressPool (served: "
	      "metallb.io/v1beta1)")},
	{"EndpointSlice of a removed version",
	 "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata:\n  name: s\n",
	 WANT("pools.yaml:1: apiVersion: \"discovery.k8s.io/v1beta1\" is not served for "
	      "EndpointSlice (served: discovery.k8s.io/v1)")},
	{"legacy AddressPool",
	 HDR("metallb.io/v1beta1", "AddressPool", "old") "  protocol: layer2\n",
	 WANT("pools.yaml:1: warning: AddressPool old: ignored: MetalLB no longer reads "
	      "AddressPool objects; write an IPAddressPool (and an L2Advertisement or "
	      "BGPAdvertisement) instead")},
	{"not an object", "- a\n- b\n",
	 WANT("pools.yaml:1: document is a sequence; a Kubernetes object (a mapping with "
	      "apiVersion and kind) is expected")},

	{"unknown spec field with a close match",
	 POOL("p") "  adresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:5: IPAddressPool metallb-system/p: spec.addresses: at least one entry "
	      "is required (a CIDR such as 192.168.10.0/24, or a range such as "
	      "192.168.10.10-192.168.10.20)",
	      "pools.yaml:6: IPAddressPool metallb-system/p: spec.adresses: unknown field "
	      "\"adresses\" (did you mean \"addresses\"?)")},
	{"unknown spec field lists the accepted ones",
	 POOL("p") "  addresses: [10.0.0.0/24]\n  protocol: bgp\n",
	 WANT("pools.yaml:7: IPAddressPool metallb-system/p: spec.protocol: unknown field "
	      "\"protocol\" (accepted: addresses, autoAssign, avoidBuggyIPs, serviceAllocation)")},
	{"unknown top-level field",
	 POOL("p") "  addresses: [10.0.0.0/24]\nstatu: {}\n",
	 WANT("pools.yaml:7: IPAddressPool metallb-system/p: statu: unknown field \"statu\" (did "
	      "you mean \"status\"?)")},
	{"unknown metadata field",
	 "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n"
	 "  label:\n    a: b\nspec:\n  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:5: IPAddressPool metallb-system/p: metadata.label: unknown field "
	      "\"label\" (did you mean \"labels\"?)")},
	{"unknown fields of a Service's spec are not ours to judge, metadata's are",
	 SVC("s") "  labelz: {}\nspec:\n  type: ClusterIP\n  sessionAffinity: None\n"
		  "  someFutureField: 1\n",
	 WANT("pools.yaml:5: Service default/s: metadata.labelz: unknown field \"labelz\" (did "
	      "you mean \"labels\"?)")},
	{"v1beta1 BGPPeer with a v1beta2 field",
	 PEER1("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
		    "  dynamicASN: external\n",
	 WANT("pools.yaml:9: BGPPeer metallb-system/p: spec.dynamicASN: unknown field "
	      "\"dynamicASN\" (metallb.io/v1beta1 does not have it; use apiVersion "
	      "metallb.io/v1beta2)",
	      "pools.yaml:9: BGPPeer metallb-system/p: spec.dynamicASN: peerASN and dynamicASN "
	      "cannot both be set")},

	{"boolean written as a string",
	 POOL("p") "  addresses: [10.0.0.0/24]\n  autoAssign: \"yes\"\n",
	 WANT("pools.yaml:7: IPAddressPool metallb-system/p: spec.autoAssign: expected a "
	      "boolean, found a string (\"yes\")")},
	{"integer written as a string",
	 PEER("p") "  myASN: \"64500\"\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n",
	 WANT("pools.yaml:6: BGPPeer metallb-system/p: spec.myASN: expected an integer, found a "
	      "string (\"64500\")")},
	{"label value written as an integer",
	 "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n"
	 "  labels:\n    port: 80\nspec:\n  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:6: IPAddressPool metallb-system/p: metadata.labels.port: expected a "
	      "string, found an integer (quote it: \"80\")")},
	{"a list written as a scalar",
	 POOL("p") "  addresses: 10.0.0.0/24\n",
	 WANT("pools.yaml:6: IPAddressPool metallb-system/p: spec.addresses: expected an array, "
	      "found a string (\"10.0.0.0/24\")")},
	{"float for an integer",
	 BFD("b") "  detectMultiplier: 2.5\n",
	 WANT("pools.yaml:6: BFDProfile metallb-system/b: spec.detectMultiplier: expected an "
	      "integer, found a float (\"2.5\")")},

	{"metadata.name missing",
	 "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  namespace: "
	 "metallb-system\nspec:\n  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:3: IPAddressPool metallb-system/(no name): metadata.name: missing "
	      "(every object needs a name)")},
	{"metadata.name not a DNS subdomain",
	 POOL("Best_Pool") "  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:4: IPAddressPool metallb-system/Best_Pool: metadata.name: "
	      "\"Best_Pool\" is not a valid IPAddressPool name (accepted: lower case letters, "
	      "digits, '-' and '.', starting and ending with a letter or digit, at most 253 "
	      "characters)")},
	{"a Service name must be a DNS label",
	 SVC("my.svc") "spec:\n  type: ClusterIP\n",
	 WANT("pools.yaml:4: Service default/my.svc: metadata.name: \"my.svc\" is not a valid "
	      "Service name (accepted: lower case letters, digits and '-', starting with a "
	      "letter and ending with a letter or digit, at most 63 characters)")},
	{"label key syntax",
	 "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n"
	 "  labels:\n    \"-bad\": x\nspec:\n  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:6: IPAddressPool metallb-system/p: metadata.labels.-bad: \"-bad\" "
	      "is not a valid key (accepted: an optional DNS subdomain prefix and '/', then a "
	      "name of letters, digits, '-', '_' and '.', starting and ending with a letter or "
	      "digit, at most 63 characters)")},
	{"annotations must be strings",
	 "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n"
	 "  annotations:\n    example.com/enabled: true\nspec:\n  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:6: IPAddressPool metallb-system/p: "
	      "metadata.annotations[\"example.com/enabled\"]: expected a string, found a "
	      "boolean (quote it: \"true\")")},

	{"configuration in another namespace is refused, and does not clash",
	 "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n"
	 "  namespace: other\nspec:\n  addresses: [10.0.0.0/24]\n"
	 "---\n" POOL("p") "  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:5: IPAddressPool other/p: metadata.namespace: \"other\" is not the "
	      "configuration namespace: IPAddressPool objects must be in namespace "
	      "metallb-system (--namespace chooses it)")},
	{"every MetalLB kind outside the configuration namespace is refused",
	 "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: a\n"
	 "  namespace: default\n"
	 "---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: b\n"
	 "  namespace: default\n"
	 "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: c\n"
	 "  namespace: kube-system\nspec:\n  myASN: 1\n  peerASN: 2\n  peerAddress: 10.9.0.1\n"
	 "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata:\n  name: d\n"
	 "  namespace: default\n"
	 "---\napiVersion: metallb.io/v1beta1\nkind: Community\nmetadata:\n  name: e\n"
	 "  namespace: default\n"
	 "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: other\n"
	 "spec:\n  type: ClusterIP\n",
	 WANT("pools.yaml:5: L2Advertisement default/a: metadata.namespace: \"default\" is not "
	      "the configuration namespace: L2Advertisement objects must be in namespace "
	      "metallb-system (--namespace chooses it)",
	      "pools.yaml:11: BGPAdvertisement default/b: metadata.namespace: \"default\" is not "
	      "the configuration namespace: BGPAdvertisement objects must be in namespace "
	      "metallb-system (--namespace chooses it)",
	      "pools.yaml:17: BGPPeer kube-system/c: metadata.namespace: \"kube-system\" is not "
	      "the configuration namespace: BGPPeer objects must be in namespace "
	      "metallb-system (--namespace chooses it)",
	      "pools.yaml:27: BFDProfile default/d: metadata.namespace: \"default\" is not the "
	      "configuration namespace: BFDProfile objects must be in namespace metallb-system "
	      "(--namespace chooses it)",
	      "pools.yaml:33: Community default/e: metadata.namespace: \"default\" is not the "
	      "configuration namespace: Community objects must be in namespace metallb-system "
	      "(--namespace chooses it)")},
	{"duplicate objects",
	 POOL("p") "  addresses: [10.0.0.0/24]\n"
	 "---\n" POOL("p") "  addresses: [10.0.1.0/24]\n",
	 WANT("pools.yaml:8: IPAddressPool metallb-system/p: duplicate: IPAddressPool "
	      "metallb-system/p is already defined at pools.yaml:1")},
	{"the same name in two kinds is not a duplicate",
	 POOL("x") "  addresses: [10.0.0.10-10.0.0.20]\n---\n" L2ADV("x")
		 "  ipAddressPools: [x]\n",
	 NONE},
};

static void test_decode(void **state)
{
	(void)state;
	run_diag_cases(decode_cases, ARRAY_SIZE(decode_cases));
}

/* ------------------------------------------------------------------ */
/* IPAddressPool, selectors, L2Advertisement */

static const struct diag_case pool_cases[] = {
	{"addresses required", POOL("p") "  autoAssign: true\n",
	 WANT("pools.yaml:5: IPAddressPool metallb-system/p: spec.addresses: at least one entry "
	      "is required (a CIDR such as 192.168.10.0/24, or a range such as "
	      "192.168.10.10-192.168.10.20)")},
	{"no spec at all", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
			   "  name: p\n",
	 WANT("pools.yaml:1: IPAddressPool metallb-system/p: spec.addresses: at least one entry "
	      "is required (a CIDR such as 192.168.10.0/24, or a range such as "
	      "192.168.10.10-192.168.10.20)")},
	{"empty addresses", POOL("p") "  addresses: []\n",
	 WANT("pools.yaml:6: IPAddressPool metallb-system/p: spec.addresses: at least one entry "
	      "is required (a CIDR such as 192.168.10.0/24, or a range such as "
	      "192.168.10.10-192.168.10.20)")},
	{"host bits are masked with a warning",
	 POOL("p") "  addresses:\n  - 10.20.30.40/24\n",
	 WANT("pools.yaml:7: warning: IPAddressPool metallb-system/p: spec.addresses[0]: "
	      "\"10.20.30.40/24\" has host bits set; read as 10.20.30.0/24")},
	{"range, blanks around the dash",
	 POOL("p") "  addresses:\n  - 10.0.0.10 - 10.0.0.20\n  - 2001:db8::a-2001:db8::f\n",
	 NONE},
	{"an entry that is not a string",
	 POOL("p") "  addresses:\n  - 10.0.0.0/24\n  - 42\n",
	 WANT("pools.yaml:8: IPAddressPool metallb-system/p: spec.addresses[1]: expected a "
	      "string, found an integer (quote it: \"42\")")},
	{"serviceAllocation",
	 POOL("p") "  addresses: [10.0.0.0/24]\n"
		   "  serviceAllocation:\n"
		   "    priority: 5\n"
		   "    namespaces: [team-a, team-a, Team_B]\n"
		   "    namespaceSelectors:\n"
		   "    - matchLabels: {team: a}\n"
		   "    serviceSelectors:\n"
		   "    - matchExpressions:\n"
		   "      - {key: app, operator: In, values: [web]}\n"
		   "    prio: 1\n",
	 WANT("pools.yaml:9: IPAddressPool metallb-system/p: spec.serviceAllocation.namespaces[1]: "
	      "\"team-a\" is listed twice (also at namespaces[0])",
	      "pools.yaml:9: IPAddressPool metallb-system/p: spec.serviceAllocation.namespaces[2]: "
	      "\"Team_B\" is not a namespace name (accepted: lower case letters, digits and "
	      "'-', starting and ending with a letter or digit, at most 63 characters)",
	      "pools.yaml:15: IPAddressPool metallb-system/p: spec.serviceAllocation.prio: "
	      "unknown field \"prio\" (accepted: priority, namespaces, namespaceSelectors, "
	      "serviceSelectors)")},

	{"selector operators and values",
	 L2ADV("a") "  nodeSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - key: zone\n"
		    "      operator: In\n"
		    "    - key: rack\n"
		    "      operator: Exists\n"
		    "      values: [r1]\n"
		    "    - key: x\n"
		    "      operator: Equals\n"
		    "      values: [y]\n"
		    "    - key: bad key\n"
		    "      operator: DoesNotExist\n"
		    "    - operator: Exists\n",
	 WANT("pools.yaml:8: L2Advertisement metallb-system/a: "
	      "spec.nodeSelectors[0].matchExpressions[0]: operator In needs at least one value",
	      "pools.yaml:12: L2Advertisement metallb-system/a: "
	      "spec.nodeSelectors[0].matchExpressions[1].values: operator Exists takes no values",
	      "pools.yaml:14: L2Advertisement metallb-system/a: "
	      "spec.nodeSelectors[0].matchExpressions[2].operator: \"Equals\" is not an "
	      "operator (accepted: In, NotIn, Exists, DoesNotExist)",
	      "pools.yaml:16: L2Advertisement metallb-system/a: "
	      "spec.nodeSelectors[0].matchExpressions[3].key: \"bad key\" is not a valid label "
	      "key (accepted: an optional DNS subdomain prefix and '/', then a name of letters, "
	      "digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63 "
	      "characters)",
	      "pools.yaml:18: L2Advertisement metallb-system/a: "
	      "spec.nodeSelectors[0].matchExpressions[4].key: missing (the label key the "
	      "expression tests)")},
	{"selector listed twice, label value syntax",
	 L2ADV("a") "  nodeSelectors:\n"
		    "  - matchLabels: {zone: a, rack: r1}\n"
		    "  - matchLabels: {rack: r1, zone: a}\n"
		    "  ipAddressPoolSelectors:\n"
		    "  - matchLabels: {tier: \"gold plated\"}\n",
	 WANT("pools.yaml:8: L2Advertisement metallb-system/a: spec.nodeSelectors[1]: this "
	      "selector is listed twice (also at nodeSelectors[0])",
	      "pools.yaml:10: L2Advertisement metallb-system/a: "
	      "spec.ipAddressPoolSelectors[0].matchLabels.tier: \"gold plated\" is not a valid "
	      "label value (accepted: empty, or letters, digits, '-', '_' and '.', starting and "
	      "ending with a letter or digit, at most 63 characters)")},
	{"the same expression twice in one selector, in every field that takes selectors",
	 L2ADV("a") "  nodeSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - {key: zone, operator: In, values: [a, b]}\n"
		    "    - {key: zone, operator: In, values: [b, a]}\n"
		    "  ipAddressPoolSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - {key: tier, operator: Exists}\n"
		    "    - {key: tier, operator: Exists}\n"
		    "  serviceSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - {key: app, operator: NotIn, values: [x]}\n"
		    "    - {key: app, operator: In, values: [x]}\n"
		    "    - {key: app, operator: NotIn, values: [x]}\n"
		    "  preferredNodeSelectors:\n"
		    "  - weight: 10\n"
		    "    preference:\n"
		    "      matchExpressions:\n"
		    "      - {key: rack, operator: DoesNotExist}\n"
		    "      - {key: rack, operator: DoesNotExist}\n"
	 "---\n" BGPADV("b") "  nodeSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - {key: zone, operator: In, values: [a]}\n"
		    "    - {key: zone, operator: In, values: [a]}\n"
		    "  ipAddressPoolSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - {key: tier, operator: In, values: [a]}\n"
		    "    - {key: tier, operator: In, values: [a, b]}\n"
		    "  serviceSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - {key: app, operator: Exists}\n"
		    "    - {key: app, operator: Exists}\n"
	 "---\n" PEER("c") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.9.0.1\n"
		    "  nodeSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - {key: zone, operator: NotIn, values: [a]}\n"
		    "    - {key: zone, operator: NotIn, values: [a]}\n"
	 "---\n" PEER1("d") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.9.0.2\n"
		    "  nodeSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - {key: zone, operator: Exists}\n"
		    "    - {key: zone, operator: Exists}\n"
	 "---\n" POOL("p") "  addresses: [10.9.1.1-10.9.1.9]\n"
		    "  serviceAllocation:\n"
		    "    namespaceSelectors:\n"
		    "    - matchExpressions:\n"
		    "      - {key: team, operator: In, values: [a]}\n"
		    "      - {key: team, operator: In, values: [a]}\n"
		    "    serviceSelectors:\n"
		    "    - matchExpressions:\n"
		    "      - {key: app, operator: In, values: [a]}\n"
		    "      - {key: app, operator: In, values: [a]}\n",
	 WANT("pools.yaml:9: L2Advertisement metallb-system/a: "
	      "spec.nodeSelectors[0].matchExpressions[1]: this expression is listed twice in one "
	      "selector (also at matchExpressions[0]); write it once",
	      "pools.yaml:13: L2Advertisement metallb-system/a: "
	      "spec.ipAddressPoolSelectors[0].matchExpressions[1]: this expression is listed "
	      "twice in one selector (also at matchExpressions[0]); write it once",
	      "pools.yaml:18: L2Advertisement metallb-system/a: "
	      "spec.serviceSelectors[0].matchExpressions[2]: this expression is listed twice in "
	      "one selector (also at matchExpressions[0]); write it once",
	      "pools.yaml:24: L2Advertisement metallb-system/a: "
	      "spec.preferredNodeSelectors[0].preference.matchExpressions[1]: this expression is "
	      "listed twice in one selector (also at matchExpressions[0]); write it once",
	      "pools.yaml:34: BGPAdvertisement metallb-system/b: "
	      "spec.nodeSelectors[0].matchExpressions[1]: this expression is listed twice in one "
	      "selector (also at matchExpressions[0]); write it once",
	      "pools.yaml:35: warning: BGPAdvertisement metallb-system/b: "
	      "spec.ipAddressPoolSelectors: matches no IPAddressPool: this advertisement "
	      "announces nothing",
	      "pools.yaml:42: BGPAdvertisement metallb-system/b: "
	      "spec.serviceSelectors[0].matchExpressions[1]: this expression is listed twice in "
	      "one selector (also at matchExpressions[0]); write it once",
	      "pools.yaml:55: BGPPeer metallb-system/c: "
	      "spec.nodeSelectors[0].matchExpressions[1]: this expression is listed twice in one "
	      "selector (also at matchExpressions[0]); write it once",
	      "pools.yaml:68: BGPPeer metallb-system/d: "
	      "spec.nodeSelectors[0].matchExpressions[1]: this expression is listed twice in one "
	      "selector (also at matchExpressions[0]); write it once",
	      "pools.yaml:80: IPAddressPool metallb-system/p: "
	      "spec.serviceAllocation.namespaceSelectors[0].matchExpressions[1]: this expression "
	      "is listed twice in one selector (also at matchExpressions[0]); write it once",
	      "pools.yaml:84: IPAddressPool metallb-system/p: "
	      "spec.serviceAllocation.serviceSelectors[0].matchExpressions[1]: this expression "
	      "is listed twice in one selector (also at matchExpressions[0]); write it once")},
	{"a value twice in one expression, and the other mistakes of MetalLB's webhooks",
	 BGPADV("b") "  nodeSelectors:\n"
		    "  - matchExpressions:\n"
		    "    - {key: zone, operator: In, values: [a, a]}\n"
		    "    - {key: rack, operator: NotIn, values: []}\n"
		    "    - {key: row, operator: DoesNotExist, values: [x]}\n"
		    "    - {key: row, operator: Gt, values: [\"1\"]}\n"
		    "    - {key: \"a/b/c\", operator: Exists}\n"
		    "    - {key: zone, operator: In, values: [\"-a\"]}\n"
		    "  - matchLabels: {\"Bad Key\": x}\n",
	 WANT("pools.yaml:8: BGPAdvertisement metallb-system/b: "
	      "spec.nodeSelectors[0].matchExpressions[0].values[1]: \"a\" is listed twice (also "
	      "at values[0])",
	      "pools.yaml:9: BGPAdvertisement metallb-system/b: "
	      "spec.nodeSelectors[0].matchExpressions[1].values: operator NotIn needs at least "
	      "one value",
	      "pools.yaml:10: BGPAdvertisement metallb-system/b: "
	      "spec.nodeSelectors[0].matchExpressions[2].values: operator DoesNotExist takes no "
	      "values",
	      "pools.yaml:11: BGPAdvertisement metallb-system/b: "
	      "spec.nodeSelectors[0].matchExpressions[3].operator: \"Gt\" is not an operator "
	      "(accepted: In, NotIn, Exists, DoesNotExist)",
	      "pools.yaml:12: BGPAdvertisement metallb-system/b: "
	      "spec.nodeSelectors[0].matchExpressions[4].key: \"a/b/c\" is not a valid label key "
	      "(accepted: an optional DNS subdomain prefix and '/', then a name of letters, "
	      "digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63 "
	      "characters)",
	      "pools.yaml:13: BGPAdvertisement metallb-system/b: "
	      "spec.nodeSelectors[0].matchExpressions[5].values[0]: \"-a\" is not a valid label "
	      "value (accepted: empty, or letters, digits, '-', '_' and '.', starting and ending "
	      "with a letter or digit, at most 63 characters)",
	      "pools.yaml:14: BGPAdvertisement metallb-system/b: "
	      "spec.nodeSelectors[1].matchLabels[\"Bad Key\"]: \"Bad Key\" is not a valid key "
	      "(accepted: an optional DNS subdomain prefix and '/', then a name of letters, "
	      "digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63 "
	      "characters)")},
	{"L2 interfaces and pools",
	 L2ADV("a") "  ipAddressPools: [p, p]\n"
		    "  interfaces:\n"
		    "  - eth0\n"
		    "  - eth0/1\n"
		    "  - averyveryverylongname\n"
		    "  - \"\"\n"
		    "---\n" POOL("p") "  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:6: L2Advertisement metallb-system/a: spec.ipAddressPools[1]: \"p\" is "
	      "listed twice (also at ipAddressPools[0])",
	      "pools.yaml:9: L2Advertisement metallb-system/a: spec.interfaces[1]: \"eth0/1\" is "
	      "not an interface name (accepted: a Linux interface name, 1 to 15 characters "
	      "without '/', ':' or blanks)",
	      "pools.yaml:10: L2Advertisement metallb-system/a: spec.interfaces[2]: "
	      "\"averyveryverylongname\" is not an interface name (accepted: a Linux interface "
	      "name, 1 to 15 characters without '/' or blanks)",
	      "pools.yaml:11: L2Advertisement metallb-system/a: spec.interfaces[3]: \"\" is not "
	      "an interface name (accepted: a Linux interface name, 1 to 15 characters without "
	      "'/' or blanks)")},
	{"L2 serviceSelectors and preferredNodeSelectors",
	 L2ADV("a") "  serviceSelectors:\n"
		    "  - matchLabels: {exposure: l2}\n"
		    "  preferredNodeSelectors:\n"
		    "  - weight: 50\n"
		    "    preference:\n"
		    "      matchLabels: {rack: r1}\n"
		    "  - weight: 0\n"
		    "    preference: {}\n"
		    "  - weight: 10\n",
	 WANT("pools.yaml:12: L2Advertisement metallb-system/a: "
	      "spec.preferredNodeSelectors[1].weight: 0 is out of range (accepted: 1..100)",
	      "pools.yaml:14: L2Advertisement metallb-system/a: "
	      "spec.preferredNodeSelectors[2].preference: missing (a label selector of preferred "
	      "nodes)")},
	{"an L2 advertisement of an unknown pool",
	 L2ADV("a") "  ipAddressPools: [ipv4-pol]\n---\n" POOL("ipv4-pool")
		 "  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:6: L2Advertisement metallb-system/a: spec.ipAddressPools[0]: unknown "
	      "IPAddressPool \"ipv4-pol\" (did you mean \"ipv4-pool\"?)")},
	{"a pool selector that selects nothing",
	 L2ADV("a") "  ipAddressPoolSelectors:\n  - matchLabels: {env: prod}\n---\n" POOL("p")
		 "  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:6: warning: L2Advertisement metallb-system/a: "
	      "spec.ipAddressPoolSelectors: matches no IPAddressPool: this advertisement "
	      "announces nothing")},

	{"overlapping pools: the later entry is reported, naming the earlier",
	 "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
	 "  name: production-ipv4\n  namespace: metallb-system\nspec:\n  addresses:\n"
	 "  - 192.168.100.0/25\n"
	 "---\n" POOL("ipv4-pool") "  addresses:\n  - 192.168.100.0/24\n",
	 WANT("pools.yaml:16: IPAddressPool metallb-system/ipv4-pool: spec.addresses[0]: "
	      "\"192.168.100.0/24\" overlaps \"192.168.100.0/25\" of IPAddressPool "
	      "metallb-system/production-ipv4 (pools.yaml:8)")},
	{"overlap inside one pool, and between a range and a CIDR",
	 POOL("p") "  addresses:\n  - 10.0.0.0/24\n  - 10.0.1.0/24\n  - 10.0.0.255-10.0.1.0\n"
	 "---\n" POOL("q") "  addresses:\n  - 2001:db8::/64\n  - 2001:db8:0:1::/64\n"
	 "---\n" POOL("r") "  addresses:\n  - 2001:db8:0:0:ffff::-2001:db8:0:1::5\n",
	 WANT("pools.yaml:9: IPAddressPool metallb-system/p: spec.addresses[2]: "
	      "\"10.0.0.255-10.0.1.0\" overlaps \"10.0.0.0/24\" of IPAddressPool "
	      "metallb-system/p (pools.yaml:7)",
	      "pools.yaml:9: IPAddressPool metallb-system/p: spec.addresses[2]: "
	      "\"10.0.0.255-10.0.1.0\" overlaps \"10.0.1.0/24\" of IPAddressPool "
	      "metallb-system/p (pools.yaml:8)",
	      "pools.yaml:26: IPAddressPool metallb-system/r: spec.addresses[0]: "
	      "\"2001:db8:0:0:ffff::-2001:db8:0:1::5\" overlaps \"2001:db8::/64\" of "
	      "IPAddressPool metallb-system/q (pools.yaml:17)",
	      "pools.yaml:26: IPAddressPool metallb-system/r: spec.addresses[0]: "
	      "\"2001:db8:0:0:ffff::-2001:db8:0:1::5\" overlaps \"2001:db8:0:1::/64\" of "
	      "IPAddressPool metallb-system/q (pools.yaml:18)")},
	{"adjacent pools and the two families do not overlap",
	 POOL("p") "  addresses: [10.0.0.0/25, \"::a00:0/120\"]\n---\n" POOL("q")
		 "  addresses: [10.0.0.128/25]\n",
	 NONE},
};

static void test_pools(void **state)
{
	(void)state;
	run_diag_cases(pool_cases, ARRAY_SIZE(pool_cases));
}

/* ------------------------------------------------------------------ */
/* BGP: peers, advertisements, BFD, communities */

static const struct diag_case bgp_cases[] = {
	{"myASN required",
	 PEER("p") "  peerASN: 64501\n  peerAddress: 10.0.0.1\n",
	 WANT("pools.yaml:5: BGPPeer metallb-system/p: spec.myASN: missing (the local AS "
	      "number, 1..4294967295)")},
	{"myASN zero, peerASN too large",
	 PEER("p") "  myASN: 0\n  peerASN: 4294967296\n  peerAddress: 10.0.0.1\n",
	 WANT("pools.yaml:6: BGPPeer metallb-system/p: spec.myASN: 0 is not an AS number "
	      "(accepted: 1..4294967295)",
	      "pools.yaml:7: BGPPeer metallb-system/p: spec.peerASN: 4294967296 is out of range "
	      "(accepted: 0..4294967295)")},
	{"peerASN or dynamicASN",
	 PEER("p") "  myASN: 64500\n  peerAddress: 10.0.0.1\n"
	 "---\n" PEER("q") "  myASN: 64500\n  peerASN: 64501\n  dynamicASN: external\n"
			   "  peerAddress: 10.0.0.2\n"
	 "---\n" PEER("r") "  myASN: 64500\n  dynamicASN: outside\n  peerAddress: 10.0.0.3\n",
	 WANT("pools.yaml:5: BGPPeer metallb-system/p: spec.peerASN: missing: set peerASN (the "
	      "peer's AS number, 1..4294967295) or dynamicASN (internal or external)",
	      "pools.yaml:16: BGPPeer metallb-system/q: spec.dynamicASN: peerASN and dynamicASN "
	      "cannot both be set",
	      "pools.yaml:25: BGPPeer metallb-system/r: spec.dynamicASN: \"outside\" is not "
	      "accepted (accepted: internal, external)")},
	{"peerAddress or interface",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n"
	 "---\n" PEER("q") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
			   "  interface: eth1\n"
	 "---\n" PEER("r") "  myASN: 64500\n  peerASN: 64501\n  interface: eth1\n",
	 WANT("pools.yaml:5: BGPPeer metallb-system/p: spec.peerAddress: missing: set "
	      "peerAddress (IPv4 or IPv6) or interface (unnumbered BGP)",
	      "pools.yaml:17: BGPPeer metallb-system/q: spec.interface: peerAddress and "
	      "interface cannot both be set")},
	{"v1beta1 requires peerASN and peerAddress",
	 PEER1("p") "  myASN: 64500\n",
	 WANT("pools.yaml:5: BGPPeer metallb-system/p: spec.peerASN: missing (the peer's AS "
	      "number, 1..4294967295)",
	      "pools.yaml:5: BGPPeer metallb-system/p: spec.peerAddress: missing (the address to "
	      "dial, IPv4 or IPv6)")},
	{"addresses: syntax, source family, router ID",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.300\n"
	 "---\n" PEER("q") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
			   "  sourceAddress: \"2001:db8::1\"\n  routerID: \"2001:db8::2\"\n",
	 WANT("pools.yaml:8: BGPPeer metallb-system/p: spec.peerAddress: \"10.0.0.300\" is not an "
	      "IPv4 address (octet 300 is above 255)",
	      "pools.yaml:18: BGPPeer metallb-system/q: spec.sourceAddress: 2001:db8::1 is IPv6 "
	      "but peerAddress 10.0.0.1 is IPv4",
	      "pools.yaml:19: BGPPeer metallb-system/q: spec.routerID: 2001:db8::2 is not an IPv4 "
	      "address (a BGP router ID is 32 bits)")},
	{"peerPort bounds (MetalLB's CRD: 1..16384)",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n  peerPort: 0\n"
	 "---\n" PEER("q") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.2\n"
			   "  peerPort: 20000\n",
	 WANT("pools.yaml:9: BGPPeer metallb-system/p: spec.peerPort: 0 is out of range "
	      "(accepted: 1..16384)",
	      "pools.yaml:19: BGPPeer metallb-system/q: spec.peerPort: 20000 is out of range "
	      "(accepted: 1..16384)")},
	{"durations",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
		   "  holdTime: 90\n  keepaliveTime: \"30\"\n  connectTime: 1sec\n"
	 "---\n" PEER("q") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.2\n"
			   "  holdTime: 1500ms\n  connectTime: -5s\n",
	 WANT("pools.yaml:9: BGPPeer metallb-system/p: spec.holdTime: expected a duration "
	      "string, found an integer (write \"90s\" for 90 seconds)",
	      "pools.yaml:10: BGPPeer metallb-system/p: spec.keepaliveTime: \"30\" is not a "
	      "duration (a number needs a unit: ns, us, ms, s, m or h; e.g. \"90s\")",
	      "pools.yaml:11: BGPPeer metallb-system/p: spec.connectTime: \"1sec\" is not a "
	      "duration (unknown unit \"sec\"; accepted: ns, us, ms, s, m, h)",
	      "pools.yaml:21: BGPPeer metallb-system/q: spec.holdTime: \"1500ms\" is not a whole "
	      "number of seconds (BGP timers count seconds)",
	      "pools.yaml:22: BGPPeer metallb-system/q: spec.connectTime: \"-5s\" is negative "
	      "(accepted: 0s to 9223372036s)")},
	{"hold and keepalive rules",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
		   "  holdTime: 2s\n"
	 "---\n" PEER("q") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.2\n"
			   "  holdTime: 30s\n  keepaliveTime: 1m\n"
	 "---\n" PEER("r") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.3\n"
			   "  holdTime: 0s\n  keepaliveTime: 10s\n"
	 "---\n" PEER("s") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.4\n"
			   "  holdTime: 20h\n"
	 "---\n" PEER("t") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.5\n"
			   "  connectTime: 0s\n",
	 WANT("pools.yaml:9: BGPPeer metallb-system/p: spec.holdTime: hold time 2s is not "
	      "accepted (accepted: 0s, or 3s to 65535s)",
	      "pools.yaml:20: BGPPeer metallb-system/q: spec.keepaliveTime: keepaliveTime 60s is "
	      "longer than holdTime 30s (accepted: at most the hold time)",
	      "pools.yaml:31: BGPPeer metallb-system/r: spec.keepaliveTime: keepaliveTime 10s is "
	      "longer than holdTime 0s (accepted: at most the hold time)",
	      "pools.yaml:41: BGPPeer metallb-system/s: spec.holdTime: hold time 72000s is too "
	      "long (BGP carries it in 16 bits: at most 65535s)",
	      "pools.yaml:51: BGPPeer metallb-system/t: spec.connectTime: 0s is out of range "
	      "(accepted: 1s to 65535s)")},
	{"password and passwordSecret",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
		   "  password: s3cret\n  passwordSecret:\n    name: bgp\n"
	 "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: bgp\n  namespace: metallb-system\n"
	 "type: kubernetes.io/basic-auth\nstringData:\n  password: x\n",
	 WANT("pools.yaml:10: BGPPeer metallb-system/p: spec.passwordSecret: password and "
	      "passwordSecret cannot both be set")},
	{"passwordSecret: missing Secret, Secret without the key",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
		   "  passwordSecret:\n    name: nope\n"
	 "---\n" PEER("q") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.2\n"
			   "  passwordSecret:\n    name: bgp\n"
	 "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: bgp\n  namespace: metallb-system\n"
	 "type: kubernetes.io/basic-auth\nstringData:\n  username: x\n",
	 WANT("pools.yaml:10: BGPPeer metallb-system/p: spec.passwordSecret.name: unknown Secret "
	      "metallb-system/nope",
	      "pools.yaml:21: BGPPeer metallb-system/q: spec.passwordSecret.name: Secret "
	      "metallb-system/bgp has no \"password\" key; passwordSecret needs type "
	      "kubernetes.io/basic-auth with a \"password\" key")},
	{"passwordSecret in another namespace",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
		   "  passwordSecret:\n    name: bgp\n    namespace: kube-system\n"
	 "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: bgp\n  namespace: kube-system\n"
	 "type: kubernetes.io/basic-auth\nstringData:\n  password: x\n",
	 WANT("pools.yaml:11: warning: BGPPeer metallb-system/p: spec.passwordSecret.namespace: "
	      "MetalLB reads password Secrets only from its own namespace (metallb-system)")},
	{"password with a line break",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
		   "  password: \"a\\nb\"\n",
	 WANT("pools.yaml:9: BGPPeer metallb-system/p: spec.password: contains a line break (not "
	      "accepted in a password)")},
	{"ebgpMultiHop on iBGP",
	 PEER("p") "  myASN: 64500\n  peerASN: 64500\n  peerAddress: 10.0.0.1\n"
		   "  ebgpMultiHop: true\n"
	 "---\n" PEER("q") "  myASN: 64500\n  dynamicASN: internal\n  peerAddress: 10.0.0.2\n"
			   "  ebgpMultiHop: true\n"
	 "---\n" PEER("r") "  myASN: 64500\n  dynamicASN: external\n  peerAddress: 10.0.0.3\n"
			   "  ebgpMultiHop: true\n",
	 WANT("pools.yaml:9: BGPPeer metallb-system/p: spec.ebgpMultiHop: ebgpMultiHop applies "
	      "to eBGP sessions only, and this session is iBGP (peerASN equals myASN)",
	      "pools.yaml:19: BGPPeer metallb-system/q: spec.ebgpMultiHop: ebgpMultiHop applies "
	      "to eBGP sessions only, and this session is iBGP (dynamicASN is internal)")},
	{"interface and vrf names, localASN and the remaining v1beta2 fields",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  interface: \"eth 1\"\n  vrf: red\n"
		   "  localASN: 65000\n  enableGracefulRestart: true\n  disableMP: false\n"
		   "  dualStackAddressFamily: true\n",
	 WANT("pools.yaml:8: BGPPeer metallb-system/p: spec.interface: \"eth 1\" is not an "
	      "interface name (accepted: a Linux interface name, 1 to 15 characters without "
	      "'/', ':' or blanks)")},
	{"unknown BFD profile",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
		   "  bfdProfile: fast\n---\n" BFD("fast-detection") "  echoMode: false\n",
	 WANT("pools.yaml:9: BGPPeer metallb-system/p: spec.bfdProfile: unknown BFDProfile "
	      "\"fast\" (known: fast-detection)")},
	{"BFD ranges",
	 BFD("b") "  receiveInterval: 5\n  transmitInterval: 60001\n  detectMultiplier: 1\n"
		  "  echoInterval: 10\n  minimumTtl: 255\n  echoMode: true\n  passiveMode: true\n",
	 WANT("pools.yaml:6: BFDProfile metallb-system/b: spec.receiveInterval: 5 is out of "
	      "range (accepted: 10..60000)",
	      "pools.yaml:7: BFDProfile metallb-system/b: spec.transmitInterval: 60001 is out of "
	      "range (accepted: 10..60000)",
	      "pools.yaml:8: BFDProfile metallb-system/b: spec.detectMultiplier: 1 is out of "
	      "range (accepted: 2..255)",
	      "pools.yaml:10: BFDProfile metallb-system/b: spec.minimumTtl: 255 is out of range "
	      "(accepted: 1..254)")},
	{"BFD echo on a session announcing an IPv6 pool",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
		   "  bfdProfile: echo\n"
	 "---\n" BFD("echo") "  echoMode: true\n"
	 "---\n" BGPADV("a") "  ipAddressPools: [v6]\n"
	 "---\n" POOL("v6") "  addresses: [\"2001:db8::/64\"]\n",
	 WANT("pools.yaml:9: BGPPeer metallb-system/p: spec.bfdProfile: BFD echo mode "
	      "(BFDProfile metallb-system/echo) cannot be used on a session that announces IPv6 "
	      "pool v6 (through BGPAdvertisement metallb-system/a)")},
	{"duplicate sessions",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
	 "---\n" PEER("q") "  myASN: 64500\n  peerASN: 64502\n  peerAddress: 10.0.0.1\n"
	 "---\n" PEER("r") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
			   "  peerPort: 1179\n"
	 "---\n" PEER("s") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
			   "  vrf: red\n"
	 "---\n" PEER("t") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n"
			   "  vrf: red\n  nodeSelectors:\n  - matchLabels: {rack: r1}\n",
	 WANT("pools.yaml:17: BGPPeer metallb-system/q: spec.peerAddress: duplicate session: "
	      "BGPPeer metallb-system/p (pools.yaml:1) has the same peerAddress, port 179 and "
	      "VRF, on nodes this peer also selects",
	      "pools.yaml:46: BGPPeer metallb-system/t: spec.peerAddress: duplicate session: "
	      "BGPPeer metallb-system/s (pools.yaml:29) has the same peerAddress, port 179 and "
	      "VRF, on nodes this peer also selects")},
	{"same peer address on disjoint nodes",
	 PEER("p") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 169.254.0.1\n"
		   "  nodeSelectors:\n  - matchLabels: {rack: r1}\n"
	 "---\n" PEER("q") "  myASN: 64500\n  peerASN: 64502\n  peerAddress: 169.254.0.1\n"
			   "  nodeSelectors:\n  - matchLabels: {rack: r2}\n",
	 NONE},

	{"communities: literals, aliases, errors",
	 COMMUNITY("c") "  communities:\n"
			"  - name: a\n    value: \"64500:100\"\n"
			"  - name: big\n    value: large:64500:1:2\n"
			"  - name: bad\n    value: \"64500:70000\"\n"
			"  - name: \"x:y\"\n    value: \"1:2\"\n"
			"  - name: nov\n"
	 "---\n" COMMUNITY("d") "  communities:\n  - name: a\n    value: \"1:1\"\n"
	 "---\n" BGPADV("adv") "  communities:\n  - a\n  - big\n  - 1:2:3\n  - large:1:2:3\n"
			       "  - missing\n  - a\n",
	 WANT("pools.yaml:12: Community metallb-system/c: spec.communities[2].value: "
	      "\"64500:70000\" is not a community (70000 is above 65535: the parts of a standard "
	      "community are 16-bit; write large:A:B:C for larger numbers)",
	      "pools.yaml:13: Community metallb-system/c: spec.communities[3].name: \"x:y\" "
	      "cannot be an alias name: advertisements read a value with ':' as a community, not "
	      "as an alias",
	      "pools.yaml:15: Community metallb-system/c: spec.communities[4].value: missing "
	      "(A:B or large:A:B:C)",
	      "pools.yaml:23: Community metallb-system/d: spec.communities[0].name: community "
	      "alias \"a\" is already defined in Community metallb-system/c (pools.yaml:7)",
	      "pools.yaml:34: BGPAdvertisement metallb-system/adv: spec.communities[2]: \"1:2:3\" "
	      "is not a community (accepted: A:B with numbers up to 65535, or large:A:B:C with "
	      "numbers up to 4294967295)",
	      "pools.yaml:36: BGPAdvertisement metallb-system/adv: spec.communities[4]: unknown "
	      "community alias \"missing\" (known: a, bad, big, nov, x:y) (a value without ':' "
	      "names an alias of a Community object)",
	      "pools.yaml:37: BGPAdvertisement metallb-system/adv: spec.communities[5]: \"a\" is "
	      "listed twice (also at communities[0])")},

	{"aggregation lengths against the pool's prefixes (MetalLB's 3.3.3.2-3.3.3.254)",
	 BGPADV("ok") "  ipAddressPools: [p]\n  aggregationLength: 26\n"
	 "---\n" BGPADV("short") "  ipAddressPools: [p]\n  aggregationLength: 24\n"
	 "---\n" POOL("p") "  addresses:\n  - 3.3.3.2-3.3.3.254\n",
	 WANT("pools.yaml:15: BGPAdvertisement metallb-system/short: spec.aggregationLength: "
	      "aggregationLength 24 would announce addresses outside \"3.3.3.2-3.3.3.254\" of "
	      "IPAddressPool metallb-system/p (pools.yaml:23) (accepted: 26..32)")},
	{"aggregationLengthV6 shorter than a /65 pool; all pools when none is named",
	 BGPADV("a") "  aggregationLengthV6: 64\n"
	 "---\n" POOL("p") "  addresses:\n  - 2001:db8:1::/65\n"
	 "---\n" POOL("q") "  addresses:\n  - 2001:db8:2::/64\n  - 10.0.0.0/24\n",
	 WANT("pools.yaml:6: BGPAdvertisement metallb-system/a: spec.aggregationLengthV6: "
	      "aggregationLengthV6 64 would announce addresses outside \"2001:db8:1::/65\" of "
	      "IPAddressPool metallb-system/p (pools.yaml:14) (accepted: 65..128)")},
	{"aggregation length bounds and serviceSelectors",
	 BGPADV("a") "  aggregationLength: 33\n  aggregationLengthV6: 129\n"
	 "---\n" BGPADV("b") "  aggregationLength: 0\n"
	 "---\n" BGPADV("c") "  aggregationLength: 24\n  aggregationLengthV6: 128\n"
			     "  serviceSelectors:\n  - matchLabels: {app: web}\n",
	 WANT("pools.yaml:6: BGPAdvertisement metallb-system/a: spec.aggregationLength: 33 is "
	      "out of range (accepted: 1..32)",
	      "pools.yaml:7: BGPAdvertisement metallb-system/a: spec.aggregationLengthV6: 129 is "
	      "out of range (accepted: 0..128)",
	      "pools.yaml:14: BGPAdvertisement metallb-system/b: spec.aggregationLength: 0 is out "
	      "of range (accepted: 1..32)",
	      "pools.yaml:21: BGPAdvertisement metallb-system/c: spec.aggregationLength: 24 "
	      "cannot be combined with serviceSelectors (accepted with serviceSelectors: 32, the "
	      "default)")},
	{"unknown peer",
	 BGPADV("a") "  peers: [tor1]\n---\n" PEER("tor-1") "  myASN: 64500\n  peerASN: 64501\n"
							 "  peerAddress: 10.0.0.1\n",
	 WANT("pools.yaml:6: BGPAdvertisement metallb-system/a: spec.peers[0]: unknown BGPPeer "
	      "\"tor1\" (did you mean \"tor-1\"?)")},
	{"localPref: no warning without peers, or with an iBGP peer",
	 BGPADV("a") "  localPref: 200\n"
	 "---\n" BGPADV("b") "  localPref: 200\n  peers: [ibgp, ebgp]\n"
	 "---\n" PEER("ibgp") "  myASN: 64500\n  peerASN: 64500\n  peerAddress: 10.0.0.1\n"
	 "---\n" PEER("ebgp") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.2\n",
	 NONE},
	{"localPref conflict between advertisements of one pool",
	 BGPADV("a") "  localPref: 200\n"
	 "---\n" BGPADV("b") "  localPref: 100\n"
	 "---\n" POOL("p") "  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:13: BGPAdvertisement metallb-system/b: spec.localPref: localPref 100 "
	      "conflicts with localPref 200 of BGPAdvertisement metallb-system/a (pools.yaml:6): "
	      "both announce IPAddressPool metallb-system/p to the same peers from the same "
	      "nodes with the same aggregation length")},
	{"localPref: no conflict with different aggregation, peers or nodes",
	 BGPADV("a") "  localPref: 200\n  ipAddressPools: [p]\n"
	 "---\n" BGPADV("b") "  localPref: 100\n  aggregationLength: 28\n  ipAddressPools: [p]\n"
	 "---\n" BGPADV("c") "  localPref: 300\n  peers: [x]\n  ipAddressPools: [q]\n"
	 "---\n" BGPADV("d") "  localPref: 400\n  peers: [y]\n  ipAddressPools: [q]\n"
	 "---\n" BGPADV("e") "  localPref: 300\n  ipAddressPools: [r]\n"
			     "  nodeSelectors:\n  - matchLabels: {rack: r1}\n"
	 "---\n" BGPADV("f") "  localPref: 400\n  ipAddressPools: [r]\n"
			     "  nodeSelectors:\n  - matchLabels: {rack: r2}\n"
	 "---\n" POOL("p") "  addresses: [10.0.0.0/24]\n"
	 "---\n" POOL("q") "  addresses: [10.0.1.0/24]\n"
	 "---\n" POOL("r") "  addresses: [10.0.2.0/24]\n"
	 "---\n" PEER("x") "  myASN: 64500\n  peerASN: 64500\n  peerAddress: 10.9.0.1\n"
	 "---\n" PEER("y") "  myASN: 64500\n  peerASN: 64500\n  peerAddress: 10.9.0.2\n",
	 NONE},
	{"localPref: node sets from the model's Nodes",
	 BGPADV("e") "  localPref: 300\n  nodeSelectors:\n  - matchLabels: {rack: r1}\n"
	 "---\n" BGPADV("f") "  localPref: 400\n  nodeSelectors:\n  - matchLabels: {zone: z1}\n"
	 "---\n" POOL("r") "  addresses: [10.0.2.0/24]\n"
	 "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels:\n    rack: r1\n"
	 "    zone: z1\n",
	 WANT("pools.yaml:15: BGPAdvertisement metallb-system/f: spec.localPref: localPref 400 "
	      "conflicts with localPref 300 of BGPAdvertisement metallb-system/e (pools.yaml:6): "
	      "both announce IPAddressPool metallb-system/r to the same peers from the same "
	      "nodes with the same aggregation length")},
};

static void test_bgp(void **state)
{
	(void)state;
	run_diag_cases(bgp_cases, ARRAY_SIZE(bgp_cases));
}

/* ------------------------------------------------------------------ */
/* Services and the other Kubernetes kinds */

#define LB_SPEC "spec:\n  type: LoadBalancer\n"
#define POOLS_46                                                                             \
	"---\n" POOL("v4") "  addresses: [192.168.100.0/24]\n  avoidBuggyIPs: true\n"           \
	"---\n" POOL("v6") "  addresses: [\"2001:db8:1::/64\"]\n"

static const struct diag_case service_cases[] = {
	{"type typo",
	 SVC("s") "spec:\n  type: Loadbalancer\n",
	 WANT("pools.yaml:6: Service default/s: spec.type: \"Loadbalancer\" is not a Service "
	      "type (accepted: ClusterIP, NodePort, LoadBalancer, ExternalName)")},
	{"families",
	 SVC("a") "spec:\n  ipFamilies: [IPv4, IPv6, IPv4]\n  ipFamilyPolicy: PreferDualStack\n"
	 "---\n" SVC("b") "spec:\n  ipFamilies: [IPv4, IPv6]\n  ipFamilyPolicy: SingleStack\n"
	 "---\n" SVC("c") "spec:\n  ipFamilies: [IPv6, IPv4]\n"
	 "---\n" SVC("d") "spec:\n  ipFamilies: [IPv6]\n  ipFamilyPolicy: RequireDualStack\n"
	 "---\n" SVC("e") "spec:\n  ipFamilies: [IPv5]\n  ipFamilyPolicy: SomeStack\n",
	 WANT("pools.yaml:6: Service default/a: spec.ipFamilies[2]: \"IPv4\" is listed twice "
	      "(also at ipFamilies[0])",
	      "pools.yaml:14: Service default/b: spec.ipFamilies: two families with "
	      "ipFamilyPolicy SingleStack (accepted: one family, or ipFamilyPolicy "
	      "PreferDualStack or RequireDualStack)",
	      "pools.yaml:22: Service default/c: spec.ipFamilies: two families need "
	      "ipFamilyPolicy PreferDualStack or RequireDualStack (the default is SingleStack)",
	      "pools.yaml:29: Service default/d: spec.ipFamilies: ipFamilyPolicy "
	      "RequireDualStack needs both families (accepted: [IPv4, IPv6] or [IPv6, IPv4])",
	      "pools.yaml:37: Service default/e: spec.ipFamilies[0]: \"IPv5\" is not an IP "
	      "family (accepted: IPv4, IPv6)",
	      "pools.yaml:38: Service default/e: spec.ipFamilyPolicy: \"SomeStack\" is not "
	      "accepted (accepted: SingleStack, PreferDualStack, RequireDualStack)")},
	{"cluster IPs",
	 SVC("a") "spec:\n  clusterIPs: [10.96.0.10, 10.96.0.11]\n"
	 "---\n" SVC("b") "spec:\n  clusterIP: None\n"
	 "---\n" SVC("c") "spec:\n  ipFamilies: [IPv6]\n  clusterIPs: [10.96.0.12]\n",
	 WANT("pools.yaml:6: Service default/a: spec.clusterIPs[1]: a Service has at most one "
	      "cluster IP per family",
	      "pools.yaml:21: Service default/c: spec.clusterIPs[0]: 10.96.0.12 is IPv4, but "
	      "spec.ipFamilies[0] is IPv6")},
	{"ports and traffic policy",
	 SVC("a") LB_SPEC "  externalTrafficPolicy: Locale\n  ports:\n  - port: 0\n"
			  "  - protocol: ICMP\n    port: 1\n  - name: x\n",
	 WANT("pools.yaml:7: Service default/a: spec.externalTrafficPolicy: \"Locale\" is not "
	      "accepted (accepted: Cluster, Local)",
	      "pools.yaml:9: Service default/a: spec.ports[0].port: 0 is out of range "
	      "(accepted: 1..65535)",
	      "pools.yaml:10: Service default/a: spec.ports[1].protocol: \"ICMP\" is not a "
	      "protocol (accepted: TCP, UDP, SCTP)",
	      "pools.yaml:12: Service default/a: spec.ports[2].port: missing (a port number, "
	      "1..65535)")},
	{"requested addresses: two of a family, a bad one, both forms",
	 SVC("a") "  annotations:\n    metallb.io/loadBalancerIPs: 192.168.100.5, 192.168.100.6\n"
	 LB_SPEC "  ipFamilyPolicy: PreferDualStack\n"
	 "---\n" SVC("b") "  annotations:\n    metallb.io/loadBalancerIPs: 192.168.100.x\n" LB_SPEC
	 "---\n" SVC("c") "  annotations:\n    metallb.io/loadBalancerIPs: 192.168.100.7\n" LB_SPEC
	 "  loadBalancerIP: 192.168.100.7\n"
	 "---\n" SVC("d") "  annotations:\n    metallb.io/loadBalancerIPs: 192.168.100.8,,\n"
	 LB_SPEC POOLS_46,
	 WANT("pools.yaml:6: Service default/a: metadata.annotations[\"metallb.io/loadBalancerIPs"
	      "\"]: \"192.168.100.5, 192.168.100.6\" requests more than one IPv4 address "
	      "(accepted: at most one IPv4 and one IPv6 address)",
	      "pools.yaml:16: Service default/b: metadata.annotations[\"metallb.io/loadBalancerIPs"
	      "\"]: \"192.168.100.x\" is not an IPv4 address (decimal digits and dots only)",
	      "pools.yaml:28: Service default/c: spec.loadBalancerIP: cannot be set together "
	      "with the metallb.io/loadBalancerIPs annotation (MetalLB refuses both); request "
	      "the addresses in the annotation only",
	      "pools.yaml:35: Service default/d: metadata.annotations[\"metallb.io/loadBalancerIPs"
	      "\"]: \"192.168.100.8,,\" has an empty entry (accepted: IPv4 and IPv6 addresses "
	      "separated by commas)")},
	{"requested family not among the Service's",
	 SVC("a") "  annotations:\n    metallb.io/loadBalancerIPs: \"2001:db8:1::5\"\n" LB_SPEC
	 "  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv4]\n" POOLS_46,
	 WANT("pools.yaml:6: Service default/a: metadata.annotations[\"metallb.io/loadBalancerIPs"
	      "\"]: 2001:db8:1::5 is IPv6, but the Service's families are [IPv4] (ipFamilyPolicy "
	      "SingleStack)")},
	{"requested addresses against the pools",
	 SVC("a") "  annotations:\n    metallb.io/loadBalancerIPs: 10.1.1.1\n" LB_SPEC
	 "---\n" SVC("b") LB_SPEC "  loadBalancerIP: 192.168.100.255\n"
	 "---\n" SVC("c") "  annotations:\n    metallb.io/address-pool: v6\n"
	 "    metallb.io/loadBalancerIPs: 192.168.100.7\n" LB_SPEC POOLS_46,
	 WANT("pools.yaml:6: Service default/a: metadata.annotations[\"metallb.io/loadBalancerIPs"
	      "\"]: 10.1.1.1 is in no IPAddressPool",
	      "pools.yaml:16: Service default/b: spec.loadBalancerIP: 192.168.100.255 ends in "
	      ".255, which IPAddressPool metallb-system/v4 does not hand out (avoidBuggyIPs)",
	      "pools.yaml:24: Service default/c: metadata.annotations[\"metallb.io/loadBalancerIPs"
	      "\"]: 192.168.100.7 is in IPAddressPool metallb-system/v4, which the address-pool "
	      "annotation does not name")},
	{"address-pool annotation: trimmed list, unknown and empty names",
	 SVC("a") "  annotations:\n    metallb.universe.tf/address-pool: \" v4 , v7\"\n" LB_SPEC
	 "---\n" SVC("b") "  annotations:\n    metallb.io/address-pool: \"v4,\"\n" LB_SPEC
	 "---\n" SVC("c") "  annotations:\n    metallb.io/address-pool: v4,v4\n" LB_SPEC POOLS_46,
	 WANT("pools.yaml:6: Service default/a: metadata.annotations[\"metallb.universe.tf/"
	      "address-pool\"]: unknown IPAddressPool \"v7\" (did you mean \"v4\"?)",
	      "pools.yaml:15: Service default/b: metadata.annotations[\"metallb.io/address-pool"
	      "\"]: \"v4,\" has an empty entry (accepted: IPAddressPool names separated by "
	      "commas)",
	      "pools.yaml:24: Service default/c: metadata.annotations[\"metallb.io/address-pool"
	      "\"]: \"v4\" is listed twice")},
	{"metallb.io/ wins over metallb.universe.tf/",
	 SVC("a") "  annotations:\n    metallb.io/address-pool: v4\n"
		  "    metallb.universe.tf/address-pool: v6\n" LB_SPEC POOLS_46,
	 WANT("pools.yaml:7: warning: Service default/a: metadata.annotations[\"metallb.universe"
	      ".tf/address-pool\"]: ignored: metallb.io/address-pool is also set (to \"v4\") and "
	      "takes precedence")},
	{"annotations of a Service that is not a LoadBalancer are not read",
	 SVC("a") "  annotations:\n    metallb.io/loadBalancerIPs: garbage\nspec:\n"
		  "  type: ClusterIP\n",
	 NONE},
	{"Secret data must be base64; values are not shown",
	 "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: c2Vj!mV0\n"
	 "  other: abc\n",
	 WANT("pools.yaml:6: Secret default/s: data.password: the value is not valid base64 "
	      "(character 5)",
	      "pools.yaml:7: Secret default/s: data.other: the value is not valid base64 (its "
	      "length is not a multiple of 4; padding with '=' is required)")},
	{"EndpointSlice",
	 "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: e\n"
	 "addressType: IPv4\nendpoints:\n- addresses: [\"2001:db8::1\"]\n",
	 WANT("pools.yaml:7: EndpointSlice default/e: endpoints[0].addresses[0]: 2001:db8::1 is "
	      "IPv6, but addressType is IPv4")},
	{"Node addresses", "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nstatus:\n"
			   "  addresses:\n  - type: InternalIP\n    address: 10.0.0.256\n"
			   "  - type: Hostname\n    address: n1\n",
	 WANT("pools.yaml:8: Node n1: status.addresses[0].address: \"10.0.0.256\" is not an IPv4 "
	      "address (octet 256 is above 255)")},
};

/* ------------------------------------------------------------------ */
/* addresses that hurt on a LAN: warnings */

static const struct diag_case lan_cases[] = {
	{"IPv4 .0 and .255 in pools an L2Advertisement announces",
	 L2ADV("l2") "  ipAddressPools: [a, b, c, d, e]\n"
	 "---\n" POOL("a") "  addresses: [192.168.100.0/24]\n"
	 "---\n" POOL("b") "  addresses: [10.0.0.0/22, 10.1.0.10-10.1.0.255]\n"
	 "---\n" POOL("c") "  addresses: [10.2.0.1-10.2.0.254, 10.3.0.0/25]\n"
	 "---\n" POOL("d") "  addresses: [10.4.0.0/24]\n  avoidBuggyIPs: true\n"
	 "---\n" POOL("e") "  addresses: [10.5.0.255-10.5.1.0]\n",
	 WANT("pools.yaml:13: warning: IPAddressPool metallb-system/a: spec.addresses[0]: "
	      "\"192.168.100.0/24\" holds 2 addresses ending in .0 or .255 (the first: "
	      "192.168.100.0), the network and broadcast addresses of /24s, which some clients "
	      "and CPE firmware drop, and L2Advertisement metallb-system/l2 announces this "
	      "pool on the LAN; avoidBuggyIPs: true keeps them out of allocation",
	      "pools.yaml:20: warning: IPAddressPool metallb-system/b: spec.addresses[0]: "
	      "\"10.0.0.0/22\" holds 8 addresses ending in .0 or .255 (the first: 10.0.0.0), "
	      "the network and broadcast addresses of /24s, which some clients and CPE "
	      "firmware drop, and L2Advertisement metallb-system/l2 announces this pool on the "
	      "LAN; avoidBuggyIPs: true keeps them out of allocation",
	      "pools.yaml:20: warning: IPAddressPool metallb-system/b: spec.addresses[1]: "
	      "\"10.1.0.10-10.1.0.255\" holds 10.1.0.255, the broadcast address of its /24, "
	      "which some clients and CPE firmware drop, and L2Advertisement metallb-system/l2 "
	      "announces this pool on the LAN; avoidBuggyIPs: true keeps it out of allocation",
	      "pools.yaml:27: warning: IPAddressPool metallb-system/c: spec.addresses[1]: "
	      "\"10.3.0.0/25\" holds 10.3.0.0, the network address of its /24, which some "
	      "clients and CPE firmware drop, and L2Advertisement metallb-system/l2 announces "
	      "this pool on the LAN; avoidBuggyIPs: true keeps it out of allocation",
	      "pools.yaml:42: warning: IPAddressPool metallb-system/e: spec.addresses[0]: "
	      "\"10.5.0.255-10.5.1.0\" holds 2 addresses ending in .0 or .255 (the first: "
	      "10.5.0.255), the network and broadcast addresses of /24s, which some clients "
	      "and CPE firmware drop, and L2Advertisement metallb-system/l2 announces this "
	      "pool on the LAN; avoidBuggyIPs: true keeps them out of allocation")},
	{"pools no L2Advertisement announces: no LAN warning",
	 L2ADV("l2") "  ipAddressPools: [a]\n"
	 "---\n" BGPADV("bgp") "  ipAddressPools: [b]\n"
	 "---\n" POOL("a") "  addresses: [10.0.0.1-10.0.0.9]\n"
	 "---\n" POOL("b") "  addresses: [10.1.0.0/24, \"2001:db8:1::/64\"]\n"
	 "---\n" POOL("c") "  addresses: [10.2.0.0/24]\n",
	 NONE},
	{"an L2Advertisement without pools announces every pool",
	 L2ADV("all") ""
	 "---\n" POOL("a") "  addresses: [10.0.0.0/24]\n",
	 WANT("pools.yaml:12: warning: IPAddressPool metallb-system/a: spec.addresses[0]: "
	      "\"10.0.0.0/24\" holds 2 addresses ending in .0 or .255 (the first: 10.0.0.0), "
	      "the network and broadcast addresses of /24s, which some clients and CPE "
	      "firmware drop, and L2Advertisement metallb-system/all announces this pool on "
	      "the LAN; avoidBuggyIPs: true keeps them out of allocation")},
	{"IPv6 Subnet-Router anycast addresses",
	 L2ADV("l2") "  ipAddressPoolSelectors:\n  - matchLabels: {lan: \"yes\"}\n"
	 "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: a\n"
	 "  labels: {lan: \"yes\"}\nspec:\n"
	 "  addresses:\n  - 2001:db8:1::/64\n  - 2001:db8:2::/48\n  - 2001:db8:3::1-2001:db8:3::ff\n"
	 "  - 2001:db8:4::/120\n  - \"2001:db8:5:0:ffff::-2001:db8:5:1::\"\n"
	 "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: b\n"
	 "  labels: {lan: \"yes\"}\nspec:\n"
	 "  addresses: [\"2001:db8:9::/64\"]\n  avoidBuggyIPs: true\n",
	 WANT("pools.yaml:16: warning: IPAddressPool metallb-system/a: spec.addresses[0]: "
	      "\"2001:db8:1::/64\" holds 2001:db8:1::, the Subnet-Router anycast address of "
	      "its /64 (RFC 4291 2.6.1), which routers on the link also answer, and "
	      "L2Advertisement metallb-system/l2 announces this pool on the LAN; "
	      "avoidBuggyIPs: true keeps it out of automatic allocation",
	      "pools.yaml:17: warning: IPAddressPool metallb-system/a: spec.addresses[1]: "
	      "\"2001:db8:2::/48\" holds 65536 Subnet-Router anycast addresses (RFC 4291 "
	      "2.6.1), the first address of each /64 (the first: 2001:db8:2::), which routers "
	      "on the link also answer, and L2Advertisement metallb-system/l2 announces this "
	      "pool on the LAN; avoidBuggyIPs: true keeps them out of automatic allocation",
	      "pools.yaml:19: warning: IPAddressPool metallb-system/a: spec.addresses[3]: "
	      "\"2001:db8:4::/120\" holds 2001:db8:4::, the Subnet-Router anycast address of "
	      "its /64 (RFC 4291 2.6.1), which routers on the link also answer, and "
	      "L2Advertisement metallb-system/l2 announces this pool on the LAN; "
	      "avoidBuggyIPs: true keeps it out of automatic allocation",
	      "pools.yaml:20: warning: IPAddressPool metallb-system/a: spec.addresses[4]: "
	      "\"2001:db8:5:0:ffff::-2001:db8:5:1::\" holds 2001:db8:5:1::, the Subnet-Router "
	      "anycast address of its /64 (RFC 4291 2.6.1), which routers on the link also "
	      "answer, and L2Advertisement metallb-system/l2 announces this pool on the LAN; "
	      "avoidBuggyIPs: true keeps it out of automatic allocation")},
	{"a pool holding a BGPPeer's address or a Node's InternalIP",
	 POOL("v6") "  addresses: [\"2001:db8:1::/64\"]\n"
	 "---\n" POOL("v4") "  addresses: [192.168.1.10-192.168.1.20]\n"
	 "---\n" PEER("router") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 2001:db8:1::1\n"
	 "---\n" PEER("outside") "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.9.9.9\n"
	 "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nstatus:\n"
	 "  addresses:\n  - type: InternalIP\n    address: 192.168.1.15\n"
	 "  - type: ExternalIP\n    address: 192.168.1.16\n",
	 WANT("pools.yaml:6: warning: IPAddressPool metallb-system/v6: spec.addresses[0]: "
	      "\"2001:db8:1::/64\" holds 2001:db8:1::1, the peerAddress of BGPPeer "
	      "metallb-system/router (pools.yaml:15): a Service given it would take that address "
	      "from it; leave it out of the pool (a range, or several entries)",
	      "pools.yaml:13: warning: IPAddressPool metallb-system/v4: spec.addresses[0]: "
	      "\"192.168.1.10-192.168.1.20\" holds 192.168.1.15, the InternalIP of Node n1 "
	      "(pools.yaml:33): a Service given it would take that address from it; leave it out "
	      "of the pool (a range, or several entries)")},
};

static void test_lan(void **state)
{
	(void)state;
	run_diag_cases(lan_cases, ARRAY_SIZE(lan_cases));
}

static void test_services(void **state)
{
	(void)state;
	run_diag_cases(service_cases, ARRAY_SIZE(service_cases));
}

/* ------------------------------------------------------------------ */
/* flags and return values */

static void test_reference_flags(void **state)
{
	(void)state;
	struct loaded l;
	load_yaml(&l, NULL,
		  BGPADV("a") "  ipAddressPools: [nope]\n  peers: [nobody]\n"
			      "  communities: [no-such-alias]\n"
		  "---\n" PEER("p") "  myASN: 1\n  peerASN: 2\n  peerAddress: 10.0.0.1\n"
				    "  bfdProfile: none\n  passwordSecret: {name: gone}\n"
		  "---\n" SVC("s") "  annotations:\n    metallb.io/address-pool: missing\n" LB_SPEC
		  "---\n" POOL("q") "  addresses: [10.0.0.0/24]\n  autoAssign: maybe\n",
		  true);
	static const char *const refs[] = {
		"unknown IPAddressPool \"nope\"", "unknown BGPPeer \"nobody\"",
		"unknown community alias \"no-such-alias\"", "unknown BFDProfile \"none\"",
		"unknown Secret metallb-system/gone", "unknown IPAddressPool \"missing\"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
		const struct diag *dg = find_diag(&l.d, refs[i]);
		if (!dg)
			print_diags(&l.d);
		assert_non_null(dg);
		assert_int_equal(dg->level, DIAG_ERROR);
		assert_true(dg->flags & DIAG_FLAG_REFERENCE);
	}
	const struct diag *other = find_diag(&l.d, "expected a boolean");
	assert_non_null(other);
	assert_false(other->flags & DIAG_FLAG_REFERENCE);
	assert_int_equal(diag_count(&l.d, DIAG_ERROR), ARRAY_SIZE(refs) + 1);
	/* an unresolved alias leaves the advertisement out */
	assert_true(l.m.bgpadvs[0].meta.invalid);
	assert_true(l.m.pools[0].meta.invalid);
	assert_false(l.m.services[0].meta.invalid);
	unload(&l);
}

/* Which objects model_validate leaves out (meta.invalid) after its errors. */
static void test_validate_marks_invalid(void **state)
{
	(void)state;
	struct loaded l;
	load_yaml(&l, NULL,
		  POOL("first") "  addresses: [10.0.0.0/24]\n"
		  "---\n" POOL("second") "  addresses: [10.0.0.128/25]\n"
		  "---\n" BGPADV("agg") "  ipAddressPools: [first]\n  aggregationLength: 16\n"
		  "---\n" BGPADV("lp1") "  ipAddressPools: [first]\n  localPref: 1\n"
		  "---\n" BGPADV("lp2") "  ipAddressPools: [first]\n  localPref: 2\n"
		  "---\n" BGPADV("refs") "  ipAddressPools: [second, nope]\n  peers: [nobody]\n"
		  "---\n" PEER("dup1") "  myASN: 1\n  peerASN: 2\n  peerAddress: 10.9.0.1\n"
		  "---\n" PEER("dup2") "  myASN: 1\n  peerASN: 3\n  peerAddress: 10.9.0.1\n"
		  "---\n" PEER("nobfd") "  myASN: 1\n  peerASN: 2\n  peerAddress: 10.9.0.2\n"
		  "  bfdProfile: none\n"
		  "---\n" PEER("nosecret") "  myASN: 1\n  peerASN: 2\n  peerAddress: 10.9.0.3\n"
		  "  passwordSecret: {name: none}\n"
		  "---\n" SVC("s") "  annotations:\n    metallb.io/loadBalancerIPs: 10.8.0.1\n"
		  "spec:\n  type: LoadBalancer\n",
		  true);
	struct {
		enum obj_kind kind;
		const char *name;
		bool invalid;
	} rows[] = {
		{KIND_IPADDRESSPOOL, "first", false},
		{KIND_IPADDRESSPOOL, "second", true},
		{KIND_BGPADVERTISEMENT, "agg", true},
		{KIND_BGPADVERTISEMENT, "lp1", false},
		{KIND_BGPADVERTISEMENT, "lp2", true},
		{KIND_BGPADVERTISEMENT, "refs", false},
		{KIND_BGPPEER, "dup1", false},
		{KIND_BGPPEER, "dup2", true},
		{KIND_BGPPEER, "nobfd", false},
		{KIND_BGPPEER, "nosecret", true},
		{KIND_SERVICE, "s", false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct obj_meta *m = NULL;
		for (size_t k = 0; k < model_count(&l.m, rows[i].kind); k++)
			if (strcmp(model_meta_at(&l.m, rows[i].kind, k)->name, rows[i].name) == 0)
				m = model_meta_at(&l.m, rows[i].kind, k);
		assert_non_null(m);
		if (m->invalid != rows[i].invalid) {
			print_diags(&l.d);
			fail_msg("%s: invalid is %d", m->display, m->invalid);
		}
	}
	unload(&l);
}

static void test_model_add_returns(void **state)
{
	(void)state;
	struct {
		const char *yaml;
		int ret;
		size_t npools, nskipped;
	} rows[] = {
		{POOL("p") "  addresses: [10.0.0.0/24]\n", 0, 1, 0},
		{POOL("p") "  addresses: [10.0.0.0/33]\n", -1, 1, 0},
		{POOL("p") "  addresses: [10.0.0.40/24]\n", 0, 1, 0}, /* a warning only */
		{"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n", 1, 0, 1},
		{"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n"
		 "  namespace: elsewhere\nspec:\n  addresses: [10.0.0.0/24]\n",
		 -1, 0, 0},
		{"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {}\n", -1, 0, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct manifest_set set = {0};
		struct diag_list d = {0};
		struct model m;
		manifest_read_buffer(&set, "x.yaml", rows[i].yaml, strlen(rows[i].yaml), &d);
		assert_int_equal(set.n, 1);
		model_init(&m, NULL);
		int r = model_add(&m, set.objects[0], &d);
		set.objects[0] = NULL;
		if (r != rows[i].ret)
			print_diags(&d);
		assert_int_equal(r, rows[i].ret);
		assert_int_equal(m.npools, rows[i].npools);
		assert_int_equal(m.nskipped, rows[i].nskipped);
		model_free(&m);
		manifest_set_free(&set);
		diag_list_free(&d);
	}
	/* NULL is refused */
	struct model m;
	struct diag_list d = {0};
	model_init(&m, "lb");
	assert_int_equal(model_add(&m, NULL, &d), -1);
	assert_string_equal(m.config_namespace, "lb");
	model_free(&m);
}

/* Overlap detection must stay O(n log n): 40000 entries in 200 pools. */
static void test_many_entries(void **state)
{
	(void)state;
	size_t cap = 4 << 20, len = 0;
	char *y = xmalloc(cap);
	for (int p = 0; p < 200; p++) {
		len += (size_t)snprintf(y + len, cap - len, "%s" POOL("p%d") "  addresses:\n",
					p ? "---\n" : "", p);
		for (int k = 0; k < 200; k++) {
			int n = p * 200 + k;
			len += (size_t)snprintf(y + len, cap - len, "  - 10.%d.%d.0/24\n",
						n / 256, n % 256);
		}
	}
	/* one overlap at the very end */
	len += (size_t)snprintf(y + len, cap - len, "---\n" POOL("last") "  addresses:\n"
						  "  - 10.0.5.7/32\n");
	(void)len;
	struct loaded l;
	load_yaml(&l, NULL, y, true);
	assert_int_equal(l.m.npools, 201);
	assert_int_equal(diag_count(&l.d, DIAG_ERROR), 1);
	assert_non_null(find_diag(&l.d, "\"10.0.5.7/32\" overlaps \"10.0.5.0/24\" of IPAddressPool "
					"metallb-system/p0"));
	unload(&l);
	free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guide),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_pools),
		cmocka_unit_test(test_bgp),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_lan),
		cmocka_unit_test(test_reference_flags),
		cmocka_unit_test(test_validate_marks_invalid),
		cmocka_unit_test(test_model_add_returns),
		cmocka_unit_test(test_many_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
