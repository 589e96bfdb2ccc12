/*
 * The BFD echo function (RFC 5880 §6.4, RFC 5881 §4) on Linux.
 *
 * An echo packet is a UDP datagram to port 3785 whose source and
 * destination are both our own address; sent to the peer's link-layer
 * address, it is routed back to us by the peer's forwarding plane, which
 * is what it tests.  The normal socket API cannot send it (a packet to a
 * local address never leaves the host) nor receive it (Linux drops a
 * packet arriving with a local source address as a martian unless
 * accept_local is set), so both directions use one AF_PACKET socket
 * (SOCK_DGRAM: the kernel writes the Ethernet header) on the interface
 * towards the peer: frames are addressed to the peer's MAC address from
 * the neighbour table, and a socket filter keeps only UDP to the echo
 * port carrying the session's own discriminator.  This needs CAP_NET_RAW, which the daemon has.
 *
 * The payload is ours alone (the RFC leaves it to the sender): a magic
 * number, our discriminator and a sequence number, so that a returned
 * packet is matched to its session and a stale or forged one is not
 * counted.
 *
 * The packet building and parsing is pure and tested; the socket and
 * neighbour lookup are exercised against FRR in network namespaces.
 */
#ifndef IRONLB_BFD_BFD_ECHO_H
#define IRONLB_BFD_BFD_ECHO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ip.h"

#define BFD_ECHO_MAGIC 0x49424645u   /* "IBFE" */
#define BFD_ECHO_PAYLOAD 16
/* IPv6 header + UDP header + payload: the largest echo packet. */
#define BFD_ECHO_MAX (40 + 8 + BFD_ECHO_PAYLOAD)

struct bfd_echo_payload {
	uint32_t disc;       /* the sender's local discriminator */
	uint64_t seq;
};

/*
 * Build the IP packet of an echo: source and destination self, TTL / hop
 * limit 255, UDP from sport to dport with a correct checksum (mandatory
 * for IPv6, set for IPv4 too).  Returns its length, or -1 if cap is too
 * small or self is not an address.
 */
int bfd_echo_build(uint8_t *buf, size_t cap, const struct ip_addr *self, uint16_t sport,
		   uint16_t dport, const struct bfd_echo_payload *p);

/*
 * Parse an IP packet that the socket filter passed: an unfragmented IPv4
 * (with a valid header checksum) or IPv6 packet carrying UDP to dport
 * whose payload is one of ours.  Fills src (the packet's source address)
 * and *p; returns -1 for anything else.
 */
int bfd_echo_parse(const uint8_t *buf, size_t len, uint16_t dport, struct ip_addr *src,
		   struct bfd_echo_payload *p);

/* ------------------------------------------------------------------ */
/* I/O (Linux) */

/* The interface that holds address a (for a session without an
 * interface, the one its control packets leave from); 0 if none. */
int bfd_echo_ifindex_of(const struct ip_addr *a);

/* The link-layer address of neighbour ip on ifindex from the kernel's
 * neighbour table (a usable entry: not failed nor incomplete); -1 if
 * there is none. */
int bfd_echo_neighbour(int ifindex, const struct ip_addr *ip, uint8_t mac[6]);

/* An AF_PACKET socket on ifindex for family f, filtered to UDP to port
 * carrying our payload with discriminator disc, non-blocking; -1 with
 * errno on failure. */
int bfd_echo_socket(int ifindex, enum ip_family f, uint16_t port, uint32_t disc);

/* Send an echo packet to mac; 0 or -1 with errno. */
int bfd_echo_send(int fd, int ifindex, enum ip_family f, const uint8_t mac[6],
		  const uint8_t *pkt, size_t len);

/* Receive one packet that came in from the wire (not one we sent):
 * its length, 0 for a packet to ignore, -1 when nothing is left. */
long bfd_echo_recv(int fd, uint8_t *buf, size_t cap);

#endif
