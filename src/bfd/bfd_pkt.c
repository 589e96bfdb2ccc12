/*
 * BFD control packet codec (RFC 5880 §4.1) and the session-independent
 * receive checks of §6.8.6.  See bfd_pkt.h.
 */
#include "bfd/bfd_pkt.h"

#include <string.h>

#include "base/buf.h"

const char *const bfd_pkt_err_name[BFD_PKT_ERR_COUNT] = {
	[BFD_PKT_OK] = "ok",
	[BFD_PKT_ERR_SHORT] = "short packet",
	[BFD_PKT_ERR_VERSION] = "bad version",
	[BFD_PKT_ERR_LENGTH_SHORT] = "length field too small",
	[BFD_PKT_ERR_LENGTH_OVER] = "length field beyond packet",
	[BFD_PKT_ERR_DETECT_MULT] = "zero detect multiplier",
	[BFD_PKT_ERR_MULTIPOINT] = "multipoint bit set",
	[BFD_PKT_ERR_MY_DISC] = "zero my discriminator",
	[BFD_PKT_ERR_YOUR_DISC] = "zero your discriminator",
	[BFD_PKT_ERR_AUTH] = "authentication not configured",
	[BFD_PKT_ERR_NO_SESSION] = "no matching session",
	[BFD_PKT_ERR_TTL] = "ttl too small",
};

const char *const bfd_state_name[BFD_STATE_COUNT] = {
	"AdminDown", "Down", "Init", "Up",
};

const char *const bfd_diag_name[BFD_DIAG_COUNT] = {
	"No Diagnostic",
	"Control Detection Time Expired",
	"Echo Function Failed",
	"Neighbor Signaled Session Down",
	"Forwarding Plane Reset",
	"Path Down",
	"Concatenated Path Down",
	"Administratively Down",
	"Reverse Concatenated Path Down",
};

const char *bfd_state_str(enum bfd_state s)
{
	if ((int)s < 0 || (int)s >= BFD_STATE_COUNT)
		return "none";
	return bfd_state_name[s];
}

const char *bfd_diag_str(enum bfd_diag d)
{
	if ((int)d < 0 || (int)d >= BFD_DIAG_COUNT)
		return "unknown";
	return bfd_diag_name[d];
}

enum bfd_pkt_err bfd_pkt_decode(const void *buf, size_t len, struct bfd_pkt *out)
{
	struct rbuf r;
	uint8_t b0, b1;

	memset(out, 0, sizeof(*out));
	rbuf_init(&r, buf, len);
	if (rbuf_u8(&r, &b0) < 0 || rbuf_u8(&r, &b1) < 0 || rbuf_u8(&r, &out->detect_mult) < 0 ||
	    rbuf_u8(&r, &out->length) < 0)
		return BFD_PKT_ERR_SHORT;
	out->version = b0 >> 5;
	out->diag = (enum bfd_diag)(b0 & 0x1f);
	out->state = (enum bfd_state)(b1 >> 6);
	out->poll = b1 & BFD_FLAG_POLL;
	out->final = b1 & BFD_FLAG_FINAL;
	out->cpi = b1 & BFD_FLAG_CPI;
	out->auth = b1 & BFD_FLAG_AUTH;
	out->demand = b1 & BFD_FLAG_DEMAND;
	out->multipoint = b1 & BFD_FLAG_MULTIPOINT;

	/* §6.8.6: "If the version number is not correct (1), the packet MUST
	 * be discarded." */
	if (out->version != BFD_VERSION)
		return BFD_PKT_ERR_VERSION;
	/* §6.8.6: Length less than 24 (26 with the A bit) is discarded. */
	if (out->length < (out->auth ? BFD_PKT_AUTH_MIN : BFD_PKT_LEN))
		return BFD_PKT_ERR_LENGTH_SHORT;
	/* §6.8.6: Length greater than the payload of the UDP packet. */
	if (out->length > len)
		return BFD_PKT_ERR_LENGTH_OVER;
	/* The rest of the mandatory section is within length (>= 24 <= len). */
	if (rbuf_u32(&r, &out->my_disc) < 0 || rbuf_u32(&r, &out->your_disc) < 0 ||
	    rbuf_u32(&r, &out->desired_min_tx_us) < 0 ||
	    rbuf_u32(&r, &out->required_min_rx_us) < 0 ||
	    rbuf_u32(&r, &out->required_min_echo_rx_us) < 0)
		return BFD_PKT_ERR_SHORT;
	/* §6.8.6: Detect Mult zero. */
	if (out->detect_mult == 0)
		return BFD_PKT_ERR_DETECT_MULT;
	/* §6.8.6: Multipoint (M) bit nonzero. */
	if (out->multipoint)
		return BFD_PKT_ERR_MULTIPOINT;
	/* §6.8.6: My Discriminator zero. */
	if (out->my_disc == 0)
		return BFD_PKT_ERR_MY_DISC;
	/* §6.8.6: Your Discriminator zero and State not Down or AdminDown. */
	if (out->your_disc == 0 && out->state != BFD_STATE_DOWN &&
	    out->state != BFD_STATE_ADMIN_DOWN)
		return BFD_PKT_ERR_YOUR_DISC;
	/* §6.8.6: A bit set and no authentication in use (bfd.AuthType is
	 * zero): discarded.  Authentication is never configured here. */
	if (out->auth)
		return BFD_PKT_ERR_AUTH;
	return BFD_PKT_OK;
}

int bfd_pkt_encode(const struct bfd_pkt *p, void *buf, size_t cap)
{
	struct wbuf w;
	uint8_t b1;

	if (cap < BFD_PKT_LEN)
		return -1;
	b1 = (uint8_t)(((unsigned)p->state & 3u) << 6);
	if (p->poll)
		b1 |= BFD_FLAG_POLL;
	if (p->final)
		b1 |= BFD_FLAG_FINAL;
	if (p->cpi)
		b1 |= BFD_FLAG_CPI;
	wbuf_init_fixed(&w, buf, cap);
	wbuf_u8(&w, (uint8_t)((BFD_VERSION << 5) | ((unsigned)p->diag & 0x1f)));
	wbuf_u8(&w, b1);
	wbuf_u8(&w, p->detect_mult);
	wbuf_u8(&w, BFD_PKT_LEN);
	wbuf_u32(&w, p->my_disc);
	wbuf_u32(&w, p->your_disc);
	wbuf_u32(&w, p->desired_min_tx_us);
	wbuf_u32(&w, p->required_min_rx_us);
	wbuf_u32(&w, p->required_min_echo_rx_us);
	return wbuf_ok(&w) ? BFD_PKT_LEN : -1;
}
