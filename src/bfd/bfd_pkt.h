/*
 * The BFD control packet of RFC 5880 §4.1 (pure codec: no sockets, no
 * clock).
 *
 * bfd_pkt_decode() reads the mandatory section through a bounded reader
 * and applies every receive check of §6.8.6 that does not need the
 * session (version, length against the bytes received, detect multiplier,
 * multipoint, discriminators, authentication); each drop comes with a
 * reason code and a name for logs and counters.  The session layer makes
 * the checks that need a session (your discriminator known, Your
 * Discriminator zero in a state where it may not be).
 *
 * No authentication is configured by MetalLB's BFDProfile, so a packet
 * with the A bit set is dropped (§6.8.6: "If the A bit is set and no
 * authentication is in use (bfd.AuthType is zero), the packet MUST be
 * discarded").  The encoder never sets A, D (demand mode is not used) or
 * M.
 */
#ifndef IRONLB_BFD_BFD_PKT_H
#define IRONLB_BFD_BFD_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5880 §4.1 State (Sta) values. */
enum bfd_state {
	BFD_STATE_NONE = -1,        /* no such session (bfd_state_of) */
	BFD_STATE_ADMIN_DOWN = 0,
	BFD_STATE_DOWN = 1,
	BFD_STATE_INIT = 2,
	BFD_STATE_UP = 3,
};
#define BFD_STATE_COUNT 4

/* RFC 5880 §4.1 Diagnostic (Diag) values. */
enum bfd_diag {
	BFD_DIAG_NONE = 0,
	BFD_DIAG_TIME_EXPIRED = 1,       /* Control Detection Time Expired */
	BFD_DIAG_ECHO_FAILED = 2,        /* Echo Function Failed */
	BFD_DIAG_NEIGHBOR_DOWN = 3,      /* Neighbor Signaled Session Down */
	BFD_DIAG_FWD_RESET = 4,          /* Forwarding Plane Reset */
	BFD_DIAG_PATH_DOWN = 5,          /* Path Down */
	BFD_DIAG_CONCAT_PATH_DOWN = 6,   /* Concatenated Path Down */
	BFD_DIAG_ADMIN_DOWN = 7,         /* Administratively Down */
	BFD_DIAG_REV_CONCAT_PATH_DOWN = 8, /* Reverse Concatenated Path Down */
};
#define BFD_DIAG_COUNT 9

#define BFD_VERSION 1
#define BFD_PKT_LEN 24          /* mandatory section, no authentication */
#define BFD_PKT_AUTH_MIN 26     /* §6.8.6: with A set, at least 26 bytes */

/* Flag bits of byte 1 (after the two State bits). */
#define BFD_FLAG_POLL 0x20
#define BFD_FLAG_FINAL 0x10
#define BFD_FLAG_CPI 0x08       /* Control Plane Independent */
#define BFD_FLAG_AUTH 0x04
#define BFD_FLAG_DEMAND 0x02
#define BFD_FLAG_MULTIPOINT 0x01

struct bfd_pkt {
	uint8_t version;
	enum bfd_diag diag;            /* values above 8 are kept as received */
	enum bfd_state state;
	bool poll, final, cpi, auth, demand, multipoint;
	uint8_t detect_mult;
	uint8_t length;
	uint32_t my_disc;
	uint32_t your_disc;
	uint32_t desired_min_tx_us;
	uint32_t required_min_rx_us;
	uint32_t required_min_echo_rx_us;
};

/* Why a received packet was dropped (§6.8.6, in the order of its checks). */
enum bfd_pkt_err {
	BFD_PKT_OK = 0,
	BFD_PKT_ERR_SHORT,           /* fewer bytes than the mandatory section */
	BFD_PKT_ERR_VERSION,         /* version is not 1 */
	BFD_PKT_ERR_LENGTH_SHORT,    /* Length field < 24 (< 26 with A set) */
	BFD_PKT_ERR_LENGTH_OVER,     /* Length field > the bytes received */
	BFD_PKT_ERR_DETECT_MULT,     /* Detect Mult is zero */
	BFD_PKT_ERR_MULTIPOINT,      /* M bit set */
	BFD_PKT_ERR_MY_DISC,         /* My Discriminator is zero */
	BFD_PKT_ERR_YOUR_DISC,       /* Your Discriminator zero, state not Down/AdminDown */
	BFD_PKT_ERR_AUTH,            /* A bit set, no authentication in use */
	/* Session-level drops, named here so that every reason has one list: */
	BFD_PKT_ERR_NO_SESSION,      /* Your Discriminator matches no session */
	BFD_PKT_ERR_TTL,             /* TTL / hop limit below what is required */
	BFD_PKT_ERR_COUNT,
};

extern const char *const bfd_pkt_err_name[BFD_PKT_ERR_COUNT];
extern const char *const bfd_state_name[BFD_STATE_COUNT];  /* "AdminDown", ... */
extern const char *const bfd_diag_name[BFD_DIAG_COUNT];

/* "AdminDown", "Down", "Init", "Up"; "none" for anything else. */
const char *bfd_state_str(enum bfd_state s);
/* The RFC name of a diagnostic code; "unknown" above 8. */
const char *bfd_diag_str(enum bfd_diag d);

/*
 * Decode and check a received control packet of len bytes.  Returns
 * BFD_PKT_OK and fills *out, or the reason for dropping it (*out is then
 * filled as far as it could be read).  Bytes after the Length field's
 * count (e.g. padding) are ignored, as §6.8.6 allows.
 */
enum bfd_pkt_err bfd_pkt_decode(const void *buf, size_t len, struct bfd_pkt *out);

/*
 * Encode p into buf (at least BFD_PKT_LEN bytes): the version is 1, the
 * length 24, and A, D and M are written as zero whatever p says.  Returns
 * the number of bytes written (24), or -1 if cap is too small.
 */
int bfd_pkt_encode(const struct bfd_pkt *p, void *buf, size_t cap);

#endif
