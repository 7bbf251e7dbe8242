/**
 * @file pexipsdk/uui.h
 * @brief UUI (hex, RFC 7433) to service tag URL. Pure: no I/O.
 */
#ifndef PEXIPSDK_UUI_H
#define PEXIPSDK_UUI_H

#include "common.h"
#include "buf.h"
#include "config.h"

PEX_BEGIN_DECL

#define PEX_TAG_RULES_VERSION 1
#define PEX_TAG_MAX_LEN 250      /**< Pexip's limit on a conference tag */
#define PEX_UUI_DEFAULT_MAX_OCTETS 128

/** How a decoded UUI becomes a tag URL (tag.url_template, tag.allowed_hosts). */
typedef struct pex_tag_rules {
	unsigned int version;
	const char *url_template;            /**< contains "{uui}"; NULL: only absolute URLs are accepted */
	const char *const *allowed_hosts;    /**< hosts an absolute https UUI URL may name */
	size_t allowed_host_count;
	size_t max_octets;                   /**< decoded size limit; 0 = 128 */
} pex_tag_rules;

#define PEX_TAG_RULES_INIT { PEX_TAG_RULES_VERSION, NULL, NULL, 0, 0 }
PEX_EXTERN int pex_tag_rules_init(pex_tag_rules *rules, unsigned int version);

/**
 * Initialise @p rules (as pex_tag_rules_init() with PEX_TAG_RULES_VERSION)
 * from the configuration: tag.url_template and tag.allowed_hosts. The
 * strings are borrowed from @p cfg and live as long as it does.
 * @return 0, PEX_EINVAL, or the error of reading a key.
 */
PEX_EXTERN int pex_tag_rules_from_config(pex_tag_rules *rules, const pex_config *cfg);

/**
 * Turn a hex UUI into a tag URL.
 *
 * Input: hex digits (either case), even length, optionally followed by
 * RFC 7433 parameters (";encoding=hex;purpose=...;content=..."); an encoding
 * other than hex is refused. The decoded bytes must be at most max_octets,
 * valid UTF-8, and free of control characters. If the decoded text is an
 * absolute https URL whose host is in allowed_hosts, that URL is the tag;
 * otherwise url_template with "{uui}" replaced by the percent-encoded text.
 * The result must fit PEX_TAG_MAX_LEN.
 *
 * In detail:
 * - ASCII whitespace around the whole input is ignored (offsets in messages
 *   still count it); whitespace inside the hex digits is an error. Optional
 *   SP/HTAB around ';' and '=' (SIP's SWS) is allowed in the parameters.
 * - One uui-value: the data runs to the first ';'. Parameter names are
 *   case-insensitive; purpose, content and encoding need a token value and
 *   may appear once each; encoding must be "hex" (any case); other
 *   parameters (RFC 3261 generic-param, with a token, host or quoted-string
 *   value, or none) are ignored. An empty or malformed parameter is an error.
 * - UTF-8 is checked strictly (no overlongs, surrogates, code points above
 *   U+10FFFF or truncated sequences); C0 (TAB, CR, LF included), DEL and C1
 *   (U+0080-U+009F) are refused. So is a leading ISDN protocol
 *   discriminator octet such as 00 or 04.
 * - The decoded text "looks like an absolute URL" when it matches
 *   ^[A-Za-z][A-Za-z0-9+.-]*:// ; such text is never put into the template:
 *   it is the tag or an error. It must use the https scheme (any case), hold
 *   only RFC 3986 characters (ASCII; '%' followed by two hex digits), have no
 *   userinfo ('@' in the authority), and name a host[:port] listed in
 *   allowed_hosts: hosts compare case-insensitively and exactly (no
 *   wildcards, no trailing-dot folding; IPv6 as "[...]"); a URL may carry an
 *   explicit port only if the matching entry names the same port
 *   ("host:8443"), compared as numbers, and an entry with a port admits only
 *   that port. The URL is returned as it was sent.
 * - Anything else goes into url_template; NULL there is an error for it.
 *   Each "{uui}" is replaced by the text percent-encoded (everything but
 *   RFC 3986 unreserved characters, uppercase hex).
 *
 * @param out    receives the URL (NUL-terminated); previous contents are
 *               replaced, and on error it is left empty (size 0)
 * @param uui    the caller's UUI string
 * @param rules  initialised with PEX_TAG_RULES_INIT or pex_tag_rules_init()
 * @return 0 with the URL in @p out (replacing its contents), or PEX_EINVAL
 *         with a message naming the rule and the offset that broke it,
 *         e.g. "UUI: not a hex digit at offset 7 ('g')". @p out is left
 *         empty on error. Offsets are 0-based bytes of @p uui; decoded
 *         octets are also named by index ("at octet 4 (input offset 8)").
 *         An odd length names the unpaired digit; a result over
 *         PEX_TAG_MAX_LEN names the first octet that does not fit (or says
 *         that the template alone is too long). PEX_ENOMEM if the output
 *         cannot grow.
 */
PEX_EXTERN int pex_uui_to_tag(pex_buf *out, const char *uui, const pex_tag_rules *rules);

/**
 * Check a tag URL given directly (not hex-encoded) and copy it into @p out.
 *
 * The rules are those of an absolute URL in a UUI (see pex_uui_to_tag()):
 * at most PEX_TAG_MAX_LEN characters; valid UTF-8 without control
 * characters; an absolute URL ("scheme://") whose scheme is https (any
 * case); only RFC 3986 characters (ASCII, '%' followed by two hex digits);
 * no userinfo; a host[:port] listed in @p rules->allowed_hosts (matched as
 * described there). The template and max_octets do not apply. Nothing is
 * trimmed or rewritten: the URL is returned as given.
 *
 * An empty string is refused (clearing a tag is the caller's decision:
 * pass "" to pex_room_update() directly).
 *
 * @param out    receives the URL; emptied on error
 * @param rules  initialised with PEX_TAG_RULES_INIT or pex_tag_rules_init()
 * @param url    the URL text
 * @return 0, or PEX_EINVAL with a message naming the rule and the 0-based
 *         byte offset in @p url, e.g. "tag URL host 'evil.example' is not
 *         in tag.allowed_hosts (offset 8)"; PEX_ENOMEM.
 */
PEX_EXTERN int pex_tag_from_url(pex_buf *out, const pex_tag_rules *rules, const char *url);

PEX_END_DECL

#endif
