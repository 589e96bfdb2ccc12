/*
 * BFD echo packets and their AF_PACKET socket (see bfd_echo.h).
 */
#include "bfd/bfd_echo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int bfd_echo_build(uint8_t *buf, size_t cap, const struct ip_addr *self, uint16_t sport,
		   uint16_t dport, const struct bfd_echo_payload *p)
{
	uint8_t a[16];
	size_t alen, ihl, udp_len = 8 + BFD_ECHO_PAYLOAD;
	struct wbuf w;
	uint32_t sum;
	uint16_t csum;

	if (self->family == IP_FAMILY_V4) {
		alen = 4;
		ihl = 20;
	} else if (self->family == IP_FAMILY_V6) {
		alen = 16;
		ihl = 40;
	} else {
		return -1;
	}
	if (cap < ihl + udp_len)
		return -1;
	ip_to_bytes(self, a);
	wbuf_init_fixed(&w, buf, cap);
	if (alen == 4) {
		wbuf_u8(&w, 0x45);
		wbuf_u8(&w, 0xc0);              /* precedence Internetwork Control */
		wbuf_u16(&w, (uint16_t)(ihl + udp_len));
		wbuf_u16(&w, 0);                /* id */
		wbuf_u16(&w, 0x4000);           /* DF */
		wbuf_u8(&w, 255);
		wbuf_u8(&w, IPPROTO_UDP);
		wbuf_u16(&w, 0);                /* checksum, patched below */
		wbuf_bytes(&w, a, 4);
		wbuf_bytes(&w, a, 4);
	} else {
		wbuf_u32(&w, 0x60000000u | (0xc0u << 20));
		wbuf_u16(&w, (uint16_t)udp_len);
		wbuf_u8(&w, IPPROTO_UDP);
		wbuf_u8(&w, 255);
		wbuf_bytes(&w, a, 16);
		wbuf_bytes(&w, a, 16);
	}
	wbuf_u16(&w, sport);
	wbuf_u16(&w, dport);
	wbuf_u16(&w, (uint16_t)udp_len);
	wbuf_u16(&w, 0);
	wbuf_u32(&w, BFD_ECHO_MAGIC);
	wbuf_u32(&w, p->disc);
	wbuf_u64(&w, p->seq);
	if (!wbuf_ok(&w))
		return -1;
	if (alen == 4) {
		csum = fold(sum16(0, buf, 20));
		wbuf_patch_u16(&w, 10, csum);
	}
	/* UDP checksum over the pseudo header (RFC 768, RFC 8200 §8.1). */
	sum = sum16(0, a, alen);
	sum = sum16(sum, a, alen);
	sum += IPPROTO_UDP;
	sum += (uint32_t)udp_len;
	sum = sum16(sum, buf + ihl, udp_len);
	csum = fold(sum);
	wbuf_patch_u16(&w, ihl + 6, csum ? csum : 0xffff);
	return (int)(ihl + udp_len);
}

int bfd_echo_parse(const uint8_t *buf, size_t len, uint16_t dport, struct ip_addr *src,
		   struct bfd_echo_payload *p)
{
	struct rbuf r, udp;
	uint8_t v0, proto;
	uint16_t total, frag, port, ulen;
	uint32_t magic;
	size_t ihl;

	rbuf_init(&r, buf, len);
	if (rbuf_peek_u8(&r, &v0) < 0)
		return -1;
	if (v0 >> 4 == 4) {
		ihl = (size_t)(v0 & 0xf) * 4;
		if (ihl < 20 || len < ihl || fold(sum16(0, buf, ihl)) != 0)
			return -1;
		rbuf_skip(&r, 2);
		if (rbuf_u16(&r, &total) < 0 || total < ihl || total > len)
			return -1;
		rbuf_skip(&r, 2);
		if (rbuf_u16(&r, &frag) < 0 || (frag & 0x3fff) != 0)  /* MF or offset */
			return -1;
		rbuf_skip(&r, 1);
		if (rbuf_u8(&r, &proto) < 0 || proto != IPPROTO_UDP)
			return -1;
		rbuf_skip(&r, 2);
		if (rbuf_left(&r) < 4)
			return -1;
		*src = ip_from_bytes(IP_FAMILY_V4, rbuf_ptr(&r));
		rbuf_init(&r, buf + ihl, total - ihl);
	} else if (v0 >> 4 == 6) {
		uint16_t plen;
		if (len < 40)
			return -1;
		rbuf_skip(&r, 4);
		if (rbuf_u16(&r, &plen) < 0 || rbuf_u8(&r, &proto) < 0 || proto != IPPROTO_UDP ||
		    (size_t)plen + 40 > len)
			return -1;
		*src = ip_from_bytes(IP_FAMILY_V6, buf + 8);
		rbuf_init(&r, buf + 40, plen);
	} else {
		return -1;
	}
	if (rbuf_skip(&r, 2) < 0 || rbuf_u16(&r, &port) < 0 || port != dport ||
	    rbuf_u16(&r, &ulen) < 0 || ulen < 8 + BFD_ECHO_PAYLOAD || rbuf_skip(&r, 2) < 0)
		return -1;
	if (rbuf_sub(&r, BFD_ECHO_PAYLOAD, &udp) < 0)
		return -1;
	if (rbuf_u32(&udp, &magic) < 0 || magic != BFD_ECHO_MAGIC || rbuf_u32(&udp, &p->disc) < 0 ||
	    rbuf_u64(&udp, &p->seq) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* I/O */

int bfd_echo_ifindex_of(const struct ip_addr *a)
{
	struct ifaddrs *ifs, *i;
	int idx = 0;

	if (getifaddrs(&ifs) < 0)
		return 0;
	for (i = ifs; i && !idx; i = i->ifa_next) {
		struct ip_addr x;
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET && a->family == IP_FAMILY_V4)
			x = ip_from_bytes(IP_FAMILY_V4,
					  (uint8_t *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr);
		else if (i->ifa_addr->sa_family == AF_INET6 && a->family == IP_FAMILY_V6)
			x = ip_from_bytes(IP_FAMILY_V6,
					  ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr.s6_addr);
		else
			continue;
		if (ip_eq(&x, a))
			idx = (int)if_nametoindex(i->ifa_name);
	}
	freeifaddrs(ifs);
	return idx;
}

int bfd_echo_neighbour(int ifindex, const struct ip_addr *ip, uint8_t mac[6])
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req = { 0 };
	uint8_t want[16];
	size_t alen = ip->family == IP_FAMILY_V4 ? 4 : 16;
	int fd, found = -1;
	char buf[16384];

	ip_to_bytes(ip, want);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_GETNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = 1;
	req.nd.ndm_family = ip->family == IP_FAMILY_V4 ? AF_INET : AF_INET6;
	req.nd.ndm_ifindex = ifindex;
	if (send(fd, &req, sizeof(req), 0) < 0)
		goto out;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			goto out;
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
		     nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR)
				goto out;
			if (nh->nlmsg_type != RTM_NEWNEIGH ||
			    nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ndmsg)))
				continue;
			struct ndmsg *nd = NLMSG_DATA(nh);
			if (nd->ndm_ifindex != ifindex ||
			    nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE | NUD_NOARP))
				continue;
			bool dst_ok = false, ll_ok = false;
			uint8_t ll[6];
			int alen_attr = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
			for (struct rtattr *a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
			     RTA_OK(a, alen_attr); a = RTA_NEXT(a, alen_attr)) {
				if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == alen &&
				    memcmp(RTA_DATA(a), want, alen) == 0)
					dst_ok = true;
				else if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
					memcpy(ll, RTA_DATA(a), 6);
					ll_ok = true;
				}
			}
			if (dst_ok && ll_ok && found < 0) {
				memcpy(mac, ll, 6);
				found = 0;
			}
		}
	}
out:
	close(fd);
	return found;
}

int bfd_echo_socket(int ifindex, enum ip_family f, uint16_t port, uint32_t disc)
{
	/* The filter sees the packet from its network header (SOCK_DGRAM).
	 * Matching the discriminator too means each session's socket wakes
	 * up for its own echo packets only, however many sessions share
	 * the interface. */
	struct sock_filter v4[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),              /* protocol */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 7),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),              /* fragment */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 5, 0),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),             /* X = IHL*4 */
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),              /* dst port */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_IND, 12),             /* our disc */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, disc, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0x40000),
	};
	struct sock_filter v6[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),              /* next header */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 4),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 42),             /* dst port */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 52),             /* our disc */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, disc, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0x40000),
	};
	struct sock_fprog prog;
	uint16_t proto = htons(f == IP_FAMILY_V4 ? ETH_P_IP : ETH_P_IPV6);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = proto,
				   .sll_ifindex = ifindex };
	int fd, e;

	if (f == IP_FAMILY_V4) {
		prog.len = sizeof(v4) / sizeof(v4[0]);
		prog.filter = v4;
	} else {
		prog.len = sizeof(v6) / sizeof(v6[0]);
		prog.filter = v6;
	}
	/* Protocol 0 until the filter is attached, so that nothing that
	 * did not pass it is queued before it applies. */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int bfd_echo_send(int fd, int ifindex, enum ip_family f, const uint8_t mac[6],
		  const uint8_t *pkt, size_t len)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex,
				   .sll_halen = 6 };

	sll.sll_protocol = htons(f == IP_FAMILY_V4 ? ETH_P_IP : ETH_P_IPV6);
	memcpy(sll.sll_addr, mac, 6);
	return sendto(fd, pkt, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0 ? -1 : 0;
}

long bfd_echo_recv(int fd, uint8_t *buf, size_t cap)
{
	struct sockaddr_ll from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

	if (n < 0)
		return -1;
	/* Our own transmissions come back on a packet socket as outgoing. */
	if (from.sll_pkttype == PACKET_OUTGOING)
		return 0;
	return (long)n;
}
