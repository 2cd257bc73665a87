"""Pure rupture engine: alliance scores in, rupture and signal flags out.

No Django imports: the Django layer builds the scores frame and the config (rule settings
plus norms, scale ranges and cutoffs) and stores the returned flags. See docs/ruptures.md.
"""

from alliance.analytics.config import BOUNDS, DEFAULTS, RULE_NAMES, validate_config
from alliance.analytics.engine import detect
from alliance.analytics.episodes import group_episodes
from alliance.analytics.frames import FLAG_COLUMNS
from alliance.analytics.norms import clinic_norms
from alliance.analytics.registry import RULES, RULES_BY_KEY, Rule

__all__ = [
    "BOUNDS",
    "DEFAULTS",
    "FLAG_COLUMNS",
    "RULES",
    "RULES_BY_KEY",
    "RULE_NAMES",
    "Rule",
    "clinic_norms",
    "detect",
    "group_episodes",
    "validate_config",
]
