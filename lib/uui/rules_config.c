/* The tag rules the configuration sets: the one reader that pexctl,
 * room-server and the pool all use (docs/DECISIONS.md #63). Kept apart from
 * uui.c, which needs nothing but the core. */
#include "internal.h"
#include "pexipsdk/config.h"
#include "pexipsdk/uui.h"

int pex_tag_rules_from_config(pex_tag_rules *rules, const pex_config *cfg)
{
	const char *const *hosts = NULL;
	const char *tmpl = NULL;
	size_t nhosts = 0;
	int err;

	if (!cfg)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_tag_rules_from_config: cfg is NULL");
	if ((err = pex_tag_rules_init(rules, PEX_TAG_RULES_VERSION)) < 0)
		return err;
	if ((err = pex_config_get_string(&tmpl, cfg, "tag.url_template")) == 0)
		rules->url_template = tmpl;
	else if (err != PEX_ENOTFOUND)
		return err;
	if ((err = pex_config_get_list(&hosts, &nhosts, cfg, "tag.allowed_hosts")) == 0) {
		rules->allowed_hosts = hosts;
		rules->allowed_host_count = nhosts;
	} else if (err != PEX_ENOTFOUND) {
		return err;
	}
	pex_error_clear();
	return 0;
}
